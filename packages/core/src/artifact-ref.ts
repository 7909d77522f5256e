/** Artifact references: the `store:<kind>/<key>` URI, its checks, and the store's error. */
import { InputError } from './input-error.js';
import { ArtifactRef } from './manifest.js';

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
export const INTEGRITY_CODES: ReadonlySet<ArtifactErrorCode> = new Set<ArtifactErrorCode>([
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

export function assertSegment(value: string, field: string, uri?: string): void {
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
