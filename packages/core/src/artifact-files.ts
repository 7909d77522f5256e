/** The file-level work of the artifact store: listing a tree, reading and checking manifests, fsync. */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ArtifactError } from './artifact-ref.js';
import { sha256File } from './hash.js';
import { MANIFEST_FILE, Manifest, type ManifestFile } from './manifest.js';

/** Every regular file (relative posix path -> size, sorted) and directory ('' = root) under `root`. */
export async function listTree(
  root: string,
  uri: string,
): Promise<{ files: Map<string, number>; dirs: string[] }> {
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

export async function readManifestBytes(dir: string, uri: string): Promise<Buffer> {
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

export function parseManifest(raw: Buffer, uri: string): Manifest {
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

export function manifestInvalid(
  error: { issues: { path: PropertyKey[]; message: string }[] },
  uri: string,
): ArtifactError {
  const issue = error.issues[0];
  const field = issue?.path.map(String).join('.') || '(root)';
  return new ArtifactError('MANIFEST_INVALID', `field "${field}": ${issue?.message}`, uri, MANIFEST_FILE);
}

/** Exactly the listed files must exist, each with the listed size and hash. */
export async function verifyFiles(dir: string, listed: ManifestFile[], uri: string): Promise<void> {
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

export async function fsyncPath(p: string): Promise<void> {
  const handle = await fs.open(p, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  try {
    await fsyncPath(dir);
  } catch (err) {
    // Some platforms (Windows) cannot open or fsync directories; renames there are still atomic.
    if (!isErrno(err, 'EISDIR', 'EPERM', 'EINVAL', 'EBADF')) throw err;
  }
}

export function isErrno(err: unknown, ...codes: string[]): boolean {
  return typeof err === 'object' && err !== null && codes.includes((err as NodeJS.ErrnoException).code ?? '');
}
