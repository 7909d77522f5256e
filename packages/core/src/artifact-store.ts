import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import {
  fsyncDir,
  fsyncPath,
  isErrno,
  listTree,
  manifestInvalid,
  parseManifest,
  readManifestBytes,
  verifyFiles,
} from './artifact-files.js';
import {
  ArtifactError,
  assertSegment,
  INTEGRITY_CODES,
  parseStoreUri,
  storeUri,
  validateRef,
} from './artifact-ref.js';
import { sha256File, sha256Hex, stableStringify } from './hash.js';
import { isInside } from './is-inside.js';
import { type ArtifactRef, MANIFEST_FILE, Manifest, type ManifestFile } from './manifest.js';

export interface PutOptions {
  kind: string;
  stage: string;
  config: unknown;
  inputs: ArtifactRef[];
  schemaVersion?: number;
  meta?: Record<string, unknown>;
}

/** Everything but `files`; validated together with the files before it is written. */
type ManifestDraft = { kind: string; key: string } & Record<string, unknown>;

/** Directory (inside the root) holding in-progress writes; kinds cannot start with '.', so it never clashes. */
const TMP_DIR = '.tmp';

/**
 * Content-addressed, crash-safe artifact storage on a local directory:
 * `<root>/<kind>/<key>/{manifest.json, ...data files}`.
 *
 * Artifacts only become visible through an atomic rename of a fully written and fsynced
 * temp dir, so readers never see half an artifact, and every read re-verifies all hashes.
 */
export class ArtifactStore {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  /** The cache key of a stage run: same stage + config + inputs => same key, whatever the key order. */
  static keyFor(stage: string, config: unknown, inputs: ArtifactRef[]): string {
    const inputHashes = inputs.map((ref) => validateRef(ref).sha256);
    return sha256Hex(stableStringify({ stage, config, inputs: inputHashes })).slice(0, 32);
  }

  /**
   * Stores the output of a stage run, or returns the existing artifact for the same key without
   * calling `write` (this makes stages idempotent). `write` fills the given directory with data files.
   */
  async put(options: PutOptions, write: (dir: string) => Promise<void>): Promise<ArtifactRef> {
    const { kind, stage } = options;
    assertSegment(kind, 'kind');
    const inputs = options.inputs.map(validateRef);
    const key = ArtifactStore.keyFor(stage, options.config, inputs);

    const existing = await this.inspect(kind, key);
    if (existing.status === 'ok') return existing.ref;
    // A corrupt artifact would block this key forever; move it aside (cleanTmp deletes it) and rebuild.
    // Racing a concurrent put of the same key could move its fresh copy aside too; the result is
    // still a valid artifact, and corruption plus that race is rare enough to accept.
    if (existing.status === 'corrupt') await this.quarantine(kind, key);

    const tmp = await this.makeTmpDir(key);
    try {
      await write(tmp);
      const ref = await this.seal(tmp, {
        kind,
        schemaVersion: options.schemaVersion ?? 1,
        key,
        stage,
        // Store exactly what was hashed into the key (undefined properties dropped, toJSON applied).
        config: canonicalJson(options.config),
        inputs,
        createdAt: new Date().toISOString(),
        meta: options.meta === undefined ? undefined : canonicalJson(options.meta),
      });
      return await this.publish(tmp, kind, key, ref);
    } finally {
      // No-op after a successful rename; otherwise drops the partial output.
      await fs.rm(tmp, { recursive: true, force: true });
    }
  }

  /** Verifies the artifact completely (manifest hash, every file's size and hash, no extra files). */
  async get(ref: ArtifactRef): Promise<{ dir: string; manifest: Manifest }> {
    const valid = validateRef(ref);
    const { kind, key } = this.parseRef(valid);
    const { dir, manifest } = await this.verify(kind, key, valid);
    return { dir, manifest };
  }

  /** True if the artifact exists and verifies; false if missing or corrupt. Throws for bad or unsafe refs. */
  async has(ref: ArtifactRef): Promise<boolean> {
    try {
      await this.get(ref);
      return true;
    } catch (err) {
      if (err instanceof ArtifactError && (err.code === 'NOT_FOUND' || INTEGRITY_CODES.has(err.code))) {
        return false;
      }
      throw err;
    }
  }

  /** The ref of a verified artifact stored under kind/key, or undefined if missing or corrupt. */
  async find(kind: string, key: string): Promise<ArtifactRef | undefined> {
    assertSegment(kind, 'kind');
    assertSegment(key, 'key');
    const found = await this.inspect(kind, key);
    return found.status === 'ok' ? found.ref : undefined;
  }

  /** Absolute directory of an artifact. Lexically safe only; get() also checks real paths. */
  resolve(ref: ArtifactRef): string {
    const { kind, key } = this.parseRef(validateRef(ref));
    return this.dirFor(kind, key);
  }

  /**
   * Removes leftovers of crashed or abandoned puts. With the default (0) it removes everything,
   * so only call it when no put is running; pass `olderThanMs` to spare recent temp dirs.
   * Returns how many entries were removed.
   */
  async cleanTmp(options: { olderThanMs?: number } = {}): Promise<number> {
    const tmpRoot = path.join(this.root, TMP_DIR);
    let names: string[];
    try {
      names = await fs.readdir(tmpRoot);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return 0;
      throw err;
    }
    const cutoff = Date.now() - (options.olderThanMs ?? 0);
    let removed = 0;
    for (const name of names) {
      const entry = path.join(tmpRoot, name);
      if (options.olderThanMs && (await fs.lstat(entry)).mtimeMs > cutoff) continue;
      await fs.rm(entry, { recursive: true, force: true });
      removed++;
    }
    return removed;
  }

  // --- internals -------------------------------------------------------------------------

  private parseRef(ref: ArtifactRef): { kind: string; key: string } {
    const parsed = parseStoreUri(ref.uri);
    if (parsed.kind !== ref.kind) {
      throw new ArtifactError(
        'REF_INVALID',
        `field "kind" is "${ref.kind}" but the uri says "${parsed.kind}"`,
        ref.uri,
      );
    }
    return parsed;
  }

  private dirFor(kind: string, key: string): string {
    const dir = path.join(this.root, kind, key);
    // Segments are validated already; this guards against future changes to that validation.
    if (!isInside(this.root, dir)) {
      throw new ArtifactError('REF_ESCAPES_STORE', 'resolves outside the store', storeUri(kind, key));
    }
    return dir;
  }

  /** Verifies kind/key on disk; with `expected`, also that it is exactly the artifact that ref names. */
  private async verify(
    kind: string,
    key: string,
    expected?: ArtifactRef,
  ): Promise<{ dir: string; manifest: Manifest; ref: ArtifactRef }> {
    const uri = storeUri(kind, key);
    const dir = this.dirFor(kind, key);
    await this.assertRealDir(dir, kind, key, uri);

    const raw = await readManifestBytes(dir, uri);
    const sha256 = sha256Hex(raw);
    if (expected && sha256 !== expected.sha256) {
      throw new ArtifactError(
        'MANIFEST_HASH_MISMATCH',
        `sha256 is ${sha256}, ref says ${expected.sha256}`,
        uri,
        MANIFEST_FILE,
      );
    }
    const manifest = parseManifest(raw, uri);
    if (manifest.kind !== kind || manifest.key !== key) {
      throw new ArtifactError(
        'MANIFEST_INVALID',
        `manifest says ${storeUri(manifest.kind, manifest.key)}`,
        uri,
        MANIFEST_FILE,
      );
    }
    await verifyFiles(dir, manifest.files, uri);

    const bytes = raw.byteLength + sumBytes(manifest.files);
    if (expected && bytes !== expected.bytes) {
      throw new ArtifactError(
        'BYTES_MISMATCH',
        `artifact has ${bytes} bytes, ref says ${expected.bytes}`,
        uri,
      );
    }
    return { dir, manifest, ref: { uri, sha256, bytes, kind } };
  }

  /** Follows symlinks for real: the artifact dir must be exactly <realRoot>/<kind>/<key>. */
  private async assertRealDir(dir: string, kind: string, key: string, uri: string): Promise<void> {
    let realRoot: string;
    let realDir: string;
    try {
      realRoot = await fs.realpath(this.root);
      realDir = await fs.realpath(dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) throw new ArtifactError('NOT_FOUND', 'no such artifact', uri);
      if (isErrno(err, 'ELOOP')) throw new ArtifactError('SYMLINK', 'symlink loop in artifact path', uri);
      throw err;
    }
    if (!isInside(realRoot, realDir)) {
      throw new ArtifactError(
        'REF_ESCAPES_STORE',
        `real path ${realDir} is outside the store ${realRoot}`,
        uri,
      );
    }
    if (realDir !== path.join(realRoot, kind, key)) {
      throw new ArtifactError('SYMLINK', `artifact path goes through a symlink (to ${realDir})`, uri);
    }
    if (!(await fs.stat(realDir)).isDirectory()) {
      throw new ArtifactError('NOT_FOUND', 'artifact path is not a directory', uri);
    }
  }

  private async inspect(
    kind: string,
    key: string,
  ): Promise<
    { status: 'ok'; ref: ArtifactRef } | { status: 'missing' } | { status: 'corrupt'; error: ArtifactError }
  > {
    try {
      return { status: 'ok', ref: (await this.verify(kind, key)).ref };
    } catch (err) {
      if (!(err instanceof ArtifactError)) throw err;
      if (err.code === 'NOT_FOUND') return { status: 'missing' };
      if (INTEGRITY_CODES.has(err.code)) return { status: 'corrupt', error: err };
      throw err; // symlinks or escapes: a person should look at that, not an automatic repair
    }
  }

  private async makeTmpDir(key: string): Promise<string> {
    const tmpRoot = path.join(this.root, TMP_DIR);
    await fs.mkdir(tmpRoot, { recursive: true });
    return fs.mkdtemp(path.join(tmpRoot, `${key}-`));
  }

  /** Hashes and fsyncs the written files, then writes (and fsyncs) the manifest that pins them. */
  private async seal(tmp: string, draft: ManifestDraft): Promise<ArtifactRef> {
    const uri = storeUri(draft.kind, draft.key);
    const tree = await listTree(tmp, uri);
    if (tree.files.has(MANIFEST_FILE)) {
      throw new ArtifactError(
        'RESERVED_FILE',
        'write() must not create the manifest itself',
        uri,
        MANIFEST_FILE,
      );
    }
    const files: ManifestFile[] = [];
    for (const [relPath, bytes] of tree.files) {
      const full = path.join(tmp, relPath);
      files.push({ path: relPath, sha256: await sha256File(full), bytes });
      await fsyncPath(full);
    }

    const parsed = Manifest.safeParse({ ...draft, files });
    if (!parsed.success) throw manifestInvalid(parsed.error, uri);
    const raw = Buffer.from(`${JSON.stringify(parsed.data, null, 2)}\n`);
    const handle = await fs.open(path.join(tmp, MANIFEST_FILE), 'wx');
    try {
      await handle.writeFile(raw);
      await handle.sync();
    } finally {
      await handle.close();
    }
    // Directory entries must be durable too, or a crash could lose file names after the rename.
    for (const dir of tree.dirs) await fsyncDir(path.join(tmp, dir));

    return { uri, sha256: sha256Hex(raw), bytes: raw.byteLength + sumBytes(files), kind: draft.kind };
  }

  /** Atomically makes the sealed temp dir visible; if someone else got there first, use theirs. */
  private async publish(tmp: string, kind: string, key: string, ref: ArtifactRef): Promise<ArtifactRef> {
    const kindDir = path.join(this.root, kind);
    await fs.mkdir(kindDir, { recursive: true });
    await fsyncDir(this.root); // persists a newly created kind dir
    try {
      await fs.rename(tmp, path.join(kindDir, key));
    } catch (err) {
      if (!isErrno(err, 'ENOTEMPTY', 'EEXIST')) throw err;
      const winner = await this.inspect(kind, key);
      if (winner.status === 'ok') return winner.ref;
      if (winner.status === 'corrupt') throw winner.error;
      throw err; // it vanished again between rename and inspect: let the caller retry
    }
    await fsyncDir(kindDir);
    return ref;
  }

  private async quarantine(kind: string, key: string): Promise<void> {
    const tmpRoot = path.join(this.root, TMP_DIR);
    await fs.mkdir(tmpRoot, { recursive: true });
    const target = await fs.mkdtemp(path.join(tmpRoot, `${key}-corrupt-`));
    try {
      // Renaming onto the fresh empty dir replaces it atomically.
      await fs.rename(this.dirFor(kind, key), target);
    } catch (err) {
      await fs.rm(target, { recursive: true, force: true });
      if (!isErrno(err, 'ENOENT')) throw err; // already moved by a concurrent put
    }
  }
}

// --- file helpers ----------------------------------------------------------------------------

// --- small utilities -------------------------------------------------------------------------

function canonicalJson(value: unknown): unknown {
  return JSON.parse(stableStringify(value));
}

function sumBytes(files: ManifestFile[]): number {
  return files.reduce((total, f) => total + f.bytes, 0);
}
