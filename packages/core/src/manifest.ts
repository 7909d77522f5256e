import { z } from 'zod';

/** The file every artifact directory carries; data files may not use this name. */
export const MANIFEST_FILE = 'manifest.json';

export const Hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex characters (sha256)');

export const JsonValue = z.json();
export type JsonValue = z.infer<typeof JsonValue>;

/**
 * A pointer from one stage to another's output. `sha256` is the hash of the artifact's
 * manifest.json bytes (which in turn pins every data file); `bytes` is the total size of all
 * files including the manifest. `uri` is `store:<kind>/<key>`, relative to a store root, so refs
 * stay valid when the store is moved; the store checks its shape when resolving it.
 */
export const ArtifactRef = z.object({
  uri: z.string(),
  sha256: Hex64,
  bytes: z.number().int().nonnegative(),
  kind: z.string().min(1),
});
export type ArtifactRef = z.infer<typeof ArtifactRef>;

/** Alias used where "validate an incoming ref" reads better than the type name. */
export const refSchema = ArtifactRef;

/**
 * True for a relative posix path that cannot leave the directory it is joined to:
 * no absolute or drive-letter prefix, no backslashes or NUL, no empty, `.` or `..` segments.
 */
export function isSafeRelativePath(p: string): boolean {
  if (p.length === 0 || p.includes('\0') || p.includes('\\')) return false;
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p)) return false;
  return p.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

export const ManifestFile = z.object({
  path: z
    .string()
    .refine(isSafeRelativePath, 'must be a relative posix path without "..", "." or empty segments')
    .refine((p) => p !== MANIFEST_FILE, `"${MANIFEST_FILE}" is reserved`),
  sha256: Hex64,
  bytes: z.number().int().nonnegative(),
});
export type ManifestFile = z.infer<typeof ManifestFile>;

export const Manifest = z
  .object({
    kind: z.string().min(1),
    schemaVersion: z.number().int().min(1),
    key: z.string().min(1),
    stage: z.string(),
    config: JsonValue,
    inputs: z.array(ArtifactRef),
    files: z.array(ManifestFile),
    createdAt: z.iso.datetime(),
    // Small summary values (accuracy, loss) so callers can read results without opening data files.
    meta: z.record(z.string(), JsonValue).optional(),
  })
  .superRefine((m, ctx) => {
    // A duplicated path would let one entry's hash vouch for bytes another entry claims.
    const seen = new Set<string>();
    for (const [i, f] of m.files.entries()) {
      if (seen.has(f.path))
        ctx.addIssue({ code: 'custom', path: ['files', i, 'path'], message: 'duplicate path' });
      seen.add(f.path);
    }
  });
export type Manifest = z.infer<typeof Manifest>;
