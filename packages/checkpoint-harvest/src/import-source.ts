/**
 * Checkpoints trained elsewhere as a pipeline's source: safetensors files (or PyTorch pickles, converted), grouped
 * into runs by a file-name pattern or a manifest, imported as one `checkpoints` artifact. The artifact is keyed by
 * the files' contents, so changed files are imported again and unchanged ones are reused.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { type ArtifactRef, sha256File } from '@rpg/core';
import { z } from 'zod';
import { ImportError, importCheckpoints } from './import.js';
import { convertPytorchFiles, isPytorchFile } from './pytorch-convert.js';
import { type StageContext, withScratchDir } from './stage.js';

const pathList = z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(100_000)]);

/** How files become runs (each run keeps its own permutation state in the tokenizer). */
export const runGroupingSchema = z.union([
  z
    .object({
      /** A regular expression on the file name; its first capture group (else the match) names the run. */
      pattern: z
        .string()
        .min(1)
        .max(500)
        .refine((p) => {
          try {
            new RegExp(p);
            return true;
          } catch {
            return false;
          }
        }, 'not a valid regular expression'),
    })
    .strict(),
  z
    .object({
      /** File name (without directory) → run name; every file must be listed. */
      manifest: z.record(z.string().min(1), z.union([z.string().min(1), z.number().int()])),
    })
    .strict(),
]);
export type RunGrouping = z.output<typeof runGroupingSchema>;

export const importSourceSchema = z
  .object({
    /** Safetensors (or .pt / .pth) files, or directories of them (read in natural name order). */
    checkpoints: pathList,
    /** Default: all files are one run. */
    runs: runGroupingSchema.optional(),
  })
  .strict();
export type ImportSource = z.output<typeof importSourceSchema>;

const naturalOrder = new Intl.Collator('en', { numeric: true }).compare;
const isCheckpointName = (name: string) => name.endsWith('.safetensors') || isPytorchFile(name);

/** The checkpoint files a source names, in order: a file as given, a directory's files in natural order. */
export async function sourceFiles(source: ImportSource): Promise<string[]> {
  const paths = typeof source.checkpoints === 'string' ? [source.checkpoints] : source.checkpoints;
  const files: string[] = [];
  const problems: string[] = [];
  for (const p of paths) {
    const info = await stat(p).catch(() => null);
    if (!info) problems.push(`${p}: no such file or directory`);
    else if (info.isFile()) files.push(p);
    else if (info.isDirectory()) {
      const found = (await readdir(p)).filter(isCheckpointName).sort(naturalOrder);
      if (found.length === 0) problems.push(`${p}: directory holds no *.safetensors (or .pt / .pth) files`);
      files.push(...found.map((f) => join(p, f)));
    } else problems.push(`${p}: not a regular file or a directory`);
  }
  if (problems.length > 0)
    throw new ImportError(`source.checkpoints:\n${problems.map((l) => `  - ${l}`).join('\n')}`);
  return files;
}

/** Run index of each file: run names in natural order become 0 … R−1. */
export function runsOf(files: readonly string[], grouping: RunGrouping | undefined): number[] {
  if (!grouping) return files.map(() => 0);
  const names = files.map((f) => basename(f));
  const problems: string[] = [];
  let keys: string[];
  if ('pattern' in grouping) {
    const re = new RegExp(grouping.pattern);
    keys = names.map((n) => {
      const m = re.exec(n);
      if (!m) problems.push(`${n} does not match runs.pattern ${grouping.pattern}`);
      return m ? (m[1] ?? m[0]) : '';
    });
  } else {
    const manifest = grouping.manifest;
    keys = names.map((n) => {
      const run = manifest[n];
      if (run === undefined) problems.push(`${n} is not in runs.manifest`);
      return String(run ?? '');
    });
    for (const listed of Object.keys(manifest))
      if (!names.includes(listed))
        problems.push(`runs.manifest lists ${listed}, which is not among the files`);
  }
  if (problems.length > 0)
    throw new ImportError(
      `cannot group the checkpoints into runs:\n${problems.map((l) => `  - ${l}`).join('\n')}`,
    );
  const order = [...new Set(keys)].sort(naturalOrder);
  return keys.map((k) => order.indexOf(k));
}

/**
 * The import stage: a source's files → a `checkpoints` artifact (see {@link importCheckpoints}; no network spec,
 * any architecture). PyTorch pickles are converted first, or refused with the conversion recipe.
 */
export async function importSourceStage(ctx: StageContext, input: { source: unknown }): Promise<ArtifactRef> {
  const source = importSourceSchema.parse(input.source);
  const files = await sourceFiles(source);
  const runs = runsOf(files, source.runs);
  const contents = await Promise.all(
    files.map(async (f) => ({ name: basename(f), sha256: await sha256File(f) })),
  );
  return ctx.store.put(
    { kind: 'checkpoints', stage: 'import', config: { files: contents, runs }, inputs: [] },
    (dir) =>
      withScratchDir(async (scratch) => {
        const pytorch = files.filter(isPytorchFile);
        const converted = pytorch.length > 0 ? await convertPytorchFiles(pytorch, scratch) : [];
        const paths = files.map((f) => (isPytorchFile(f) ? converted[pytorch.indexOf(f)]! : f));
        await importCheckpoints(paths, dir, { runs, ...(ctx.progress ? { progress: ctx.progress } : {}) });
      }),
  );
}
