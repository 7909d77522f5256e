import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { sha256File, sha256Hex, stableStringify } from './hash.js';
import { InputError } from './input-error.js';
import { isInside } from './is-inside.js';
import { ArtifactRef, MANIFEST_FILE, Manifest, type ManifestFile } from './manifest.js';

export type ArtifactErrorCode =
  | 'REF_INVALID'
  | 'REF_ESCAPES_STORE'
  | 'NOT_FOUND'
  | 'SYMLINK'
  | 'NOT_A_FILE'
  | 'RESERVED_FILE'
  | 'MANIFEST_HASH_MISMATCH'
  | 'MANIFEST_INVALID'
  | 'FILE_MISSING'
  | 'FILE_SIZE_MISMATCH'
  | 'FILE_HASH_MISMATCH'
  | 'UNLISTED_FILE'
  | 'BYTES_MISMATCH';

/** Codes meaning "the artifact is there but its content is not what it claims". */
const INTEGRITY_CODES: ReadonlySet<ArtifactErrorCode> = new Set<ArtifactErrorCode>([
  'MANIFEST_HASH_MISMATCH',
  'MANIFEST_INVALID',
  'FILE_MISSING',
  'FILE_SIZE_MISMATCH',
  'FILE_HASH_MISMATCH',
  'UNLISTED_FILE',
  'NOT_A_FILE',
  'BYTES_MISMATCH',
]);

export class ArtifactError extends InputError {
  override readonly name = 'ArtifactError';

  constructor(
    readonly code: ArtifactErrorCode,
    detail: string,
    readonly uri?: string,
    readonly file?: string,
  ) {
    const where = [uri && `artifact ${uri}`, file && `file ${JSON.stringify(file)}`]
      .filter(Boolean)
      .join(', ');
    super(`[${code}] ${where ? `${where}: ` : ''}${detail}`);
  }
}

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

/** One `kind` or `key` path segment: no separators, no leading dot (so never '.', '..' or '.tmp'). */
const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

export function storeUri(kind: string, key: string): string {
  return `store:${kind}/${key}`;
}

/**
 * Splits `store:<kind>/<key>`. Anything that could point outside the store (absolute paths,
 * `..`, backslashes, NUL) is REF_ESCAPES_STORE; anything else malformed is REF_INVALID.
 */
export function parseStoreUri(uri: string): { kind: string; key: string } {
  const escapes = (why: string) => new ArtifactError('REF_ESCAPES_STORE', why, uri);
  if (uri.includes('\0')) throw escapes('uri contains NUL');
  if (uri.includes('\\')) throw escapes('uri contains a backslash');
  const rest = uri.startsWith('store:') ? uri.slice('store:'.length) : undefined;
  const pathPart = rest ?? uri;
  if (pathPart.startsWith('/') || /^[A-Za-z]:/.test(pathPart)) throw escapes('uri is an absolute path');
  if (pathPart.split('/').includes('..')) throw escapes('uri contains a ".." segment');
  if (rest === undefined)
    throw new ArtifactError('REF_INVALID', 'field "uri" must look like store:<kind>/<key>', uri);

  const segments = rest.split('/');
  const [kind, key] = segments;
  if (segments.length !== 2 || kind === undefined || key === undefined) {
    throw new ArtifactError(
      'REF_INVALID',
      'field "uri" must have exactly two segments: store:<kind>/<key>',
      uri,
    );
  }
  assertSegment(kind, 'kind', uri);
  assertSegment(key, 'key', uri);
  return { kind, key };
}

function assertSegment(value: string, field: string, uri?: string): void {
  if (!SEGMENT.test(value)) {
    throw new ArtifactError('REF_INVALID', `${field} ${JSON.stringify(value)} must match ${SEGMENT}`, uri);
  }
}

/** Parses an untrusted ref, naming the first bad field. */
export function validateRef(ref: unknown): ArtifactRef {
  const result = ArtifactRef.safeParse(ref);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue?.path.join('.') || '(ref)';
  const uri = typeof (ref as { uri?: unknown })?.uri === 'string' ? (ref as { uri: string }).uri : undefined;
  throw new ArtifactError('REF_INVALID', `field "${field}": ${issue?.message ?? 'invalid'}`, uri);
}

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

/** Every regular file (relative posix path -> size, sorted) and directory ('' = root) under `root`. */
async function listTree(root: string, uri: string): Promise<{ files: Map<string, number>; dirs: string[] }> {
  const files = new Map<string, number>();
  const dirs: string[] = [];
  async function walk(rel: string): Promise<void> {
    dirs.push(rel);
    const names = (await fs.readdir(path.join(root, rel))).sort();
    for (const name of names) {
      const relPath = rel ? `${rel}/${name}` : name;
      const stat = await fs.lstat(path.join(root, relPath));
      if (stat.isSymbolicLink())
        throw new ArtifactError('SYMLINK', 'artifacts may not contain symlinks', uri, relPath);
      if (stat.isDirectory()) await walk(relPath);
      else if (stat.isFile()) files.set(relPath, stat.size);
      else throw new ArtifactError('NOT_A_FILE', 'not a regular file or directory', uri, relPath);
    }
  }
  await walk('');
  return { files, dirs };
}

async function readManifestBytes(dir: string, uri: string): Promise<Buffer> {
  const file = path.join(dir, MANIFEST_FILE);
  let stat: Awaited<ReturnType<typeof fs.lstat>>;
  try {
    stat = await fs.lstat(file);
  } catch (err) {
    if (isErrno(err, 'ENOENT'))
      throw new ArtifactError('FILE_MISSING', 'manifest is missing', uri, MANIFEST_FILE);
    throw err;
  }
  if (stat.isSymbolicLink()) throw new ArtifactError('SYMLINK', 'manifest is a symlink', uri, MANIFEST_FILE);
  if (!stat.isFile())
    throw new ArtifactError('NOT_A_FILE', 'manifest is not a regular file', uri, MANIFEST_FILE);
  return fs.readFile(file);
}

function parseManifest(raw: Buffer, uri: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new ArtifactError('MANIFEST_INVALID', `not JSON: ${(err as Error).message}`, uri, MANIFEST_FILE);
  }
  const parsed = Manifest.safeParse(json);
  if (!parsed.success) throw manifestInvalid(parsed.error, uri);
  return parsed.data;
}

function manifestInvalid(
  error: { issues: { path: PropertyKey[]; message: string }[] },
  uri: string,
): ArtifactError {
  const issue = error.issues[0];
  const field = issue?.path.map(String).join('.') || '(root)';
  return new ArtifactError('MANIFEST_INVALID', `field "${field}": ${issue?.message}`, uri, MANIFEST_FILE);
}

/** Exactly the listed files must exist, each with the listed size and hash. */
async function verifyFiles(dir: string, listed: ManifestFile[], uri: string): Promise<void> {
  // Only files found by the lstat walk are ever opened, so listed paths cannot reach outside `dir`.
  const present = (await listTree(dir, uri)).files;
  present.delete(MANIFEST_FILE);
  const listedPaths = new Set(listed.map((f) => f.path));
  for (const relPath of present.keys()) {
    if (!listedPaths.has(relPath))
      throw new ArtifactError('UNLISTED_FILE', 'not listed in the manifest', uri, relPath);
  }
  for (const file of listed) {
    const size = present.get(file.path);
    if (size === undefined)
      throw new ArtifactError('FILE_MISSING', 'listed in the manifest but missing', uri, file.path);
    if (size !== file.bytes) {
      throw new ArtifactError(
        'FILE_SIZE_MISMATCH',
        `${size} bytes, manifest says ${file.bytes}`,
        uri,
        file.path,
      );
    }
    const sha256 = await sha256File(path.join(dir, file.path));
    if (sha256 !== file.sha256) {
      throw new ArtifactError(
        'FILE_HASH_MISMATCH',
        `sha256 is ${sha256}, manifest says ${file.sha256}`,
        uri,
        file.path,
      );
    }
  }
}

async function fsyncPath(p: string): Promise<void> {
  const handle = await fs.open(p, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function fsyncDir(dir: string): Promise<void> {
  try {
    await fsyncPath(dir);
  } catch (err) {
    // Some platforms (Windows) cannot open or fsync directories; renames there are still atomic.
    if (!isErrno(err, 'EISDIR', 'EPERM', 'EINVAL', 'EBADF')) throw err;
  }
}

// --- small utilities -------------------------------------------------------------------------

function canonicalJson(value: unknown): unknown {
  return JSON.parse(stableStringify(value));
}

function sumBytes(files: ManifestFile[]): number {
  return files.reduce((total, f) => total + f.bytes, 0);
}

function isErrno(err: unknown, ...codes: string[]): boolean {
  return typeof err === 'object' && err !== null && codes.includes((err as NodeJS.ErrnoException).code ?? '');
}
