import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import {
  numel,
  type ProgressSink,
  parseSafetensors,
  SafetensorsError,
  type StateDict,
  silentProgress,
} from '@rpg/core';
import { assertFreshOutDir, writeDirAtomically } from '@rpg/core/durable-write';
import { InputError } from '@rpg/core/input-error';
import {
  type CheckpointEntry,
  type CheckpointsMeta,
  checkpointFileName,
  writeCheckpoint,
  writeCheckpointsMeta,
} from './checkpoints-dir.js';
import { type CheckpointIssue, checkCheckpoints, FLOAT_DTYPES, formatIssues } from './consistency.js';
import type { Dataset } from './data.js';
import {
  accuracy,
  describeSpec,
  inputSize,
  type NetworkSpec,
  networkSpecSchema,
  numClassesOf,
  parameterLayout,
} from './networks.js';

export interface ImportOptions {
  /** The architecture; the checkpoints must then hold exactly its tensors (names, shapes), in any order. */
  network?: NetworkSpec;
  /** With `network`: measure every checkpoint's accuracy on `dataset.test`. */
  dataset?: Dataset;
  /** Recorded as the collection's data set; default `dataset.name`, else null. */
  datasetName?: string;
  /**
   * Run of each source file, in the order the files are found (default: all run 0). Runs must be numbered
   * 0 … R−1 with none left empty; a file's index is its position among the files of its run.
   */
  runs?: number[];
  /** Warnings that do not stop the import (e.g. BatchNorm counters that differ between checkpoints). */
  onWarning?: (line: string) => void;
  progress?: ProgressSink;
}

export class ImportError extends InputError {
  override readonly name = 'ImportError';
}

const naturalOrder = new Intl.Collator('en', { numeric: true }).compare;

/**
 * One checkpoint file to read. `path` opens it (a Buffer when its directory listing gave a name that is not
 * UTF-8: decoding such a name would name another file); `name` shows it in messages and records.
 */
export interface CheckpointFile {
  path: string | Buffer;
  name: string;
}

const errnoOf = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** Why a path given on the command line cannot be used. */
function missingReason(p: string, err: unknown): string {
  if (errnoOf(err) !== 'ENOENT') return (err as Error).message;
  // Node decodes arguments as UTF-8; a name with other bytes arrives with U+FFFD and names no file.
  return p.includes('\uFFFD')
    ? 'no such file or directory; its name holds bytes that are not UTF-8 (shown as \uFFFD), which cannot be passed as an argument: rename it, or give the directory that holds it'
    : 'no such file or directory';
}

/**
 * The `*.safetensors` entries of directory `dir`, in natural name order. Entries are listed as raw bytes, so a
 * name that is not UTF-8 still opens the file it names. A symlink is followed only when its target stays inside
 * `dir` (a collection must not read files elsewhere); anything but a regular file is refused.
 */
async function listDirectory(dir: string, problems: string[]): Promise<CheckpointFile[]> {
  const realDir = await realpath(dir);
  const dirBytes = Buffer.from(resolve(dir));
  const found: CheckpointFile[] = [];
  for (const raw of await readdir(dir, { encoding: 'buffer' })) {
    const name = raw.toString('utf8');
    if (!name.endsWith('.safetensors')) continue;
    const path = Buffer.concat([dirBytes, Buffer.from(sep), raw]);
    const shown = join(dir, name);
    const info = await lstat(path);
    if (info.isSymbolicLink()) {
      let target: string;
      try {
        target = await realpath(path);
      } catch {
        problems.push(`${shown}: a symlink whose target does not exist`);
        continue;
      }
      if (dirname(target) !== realDir) {
        problems.push(
          `${shown}: a symlink to a file outside ${dir}; it is not followed (copy the file in, or name it on the command line)`,
        );
        continue;
      }
    }
    if (!(await stat(path)).isFile()) {
      problems.push(`${shown}: not a regular file`);
      continue;
    }
    found.push({ path, name: shown });
  }
  return found.sort((a, b) => naturalOrder(a.name, b.name));
}

/**
 * The checkpoint files named by `paths`: a file as given, a directory as its `*.safetensors` files in natural
 * name order (`ckpt-2` before `ckpt-10`). Every problem (missing path, directory without checkpoints, a file
 * listed twice, a symlink out of its directory, something that is not a file) is reported at once.
 */
export async function listCheckpointFiles(paths: string[]): Promise<CheckpointFile[]> {
  if (paths.length === 0) throw new ImportError('no checkpoint files or directories given');
  const files: CheckpointFile[] = [];
  const problems: string[] = [];
  for (const p of paths) {
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(p);
    } catch (err) {
      problems.push(`${p}: ${missingReason(p, err)}`);
      continue;
    }
    if (info.isFile()) {
      files.push({ path: p, name: p });
      continue;
    }
    if (!info.isDirectory()) {
      problems.push(`${p}: not a regular file or a directory`);
      continue;
    }
    const found = await listDirectory(p, problems);
    if (found.length === 0) problems.push(`${p}: directory holds no *.safetensors files`);
    files.push(...found);
  }
  const seen = new Map<string, string>();
  for (const f of files) {
    // Directory entries carry absolute byte paths; compare given paths the same way.
    const key = (typeof f.path === 'string' ? Buffer.from(resolve(f.path)) : f.path).toString('hex');
    const before = seen.get(key);
    if (before !== undefined) problems.push(`${f.name}: listed twice (also as ${before})`);
    else seen.set(key, f.name);
  }
  if (problems.length > 0)
    throw new ImportError(`cannot import:\n${problems.map((l) => `  - ${l}`).join('\n')}`);
  return files;
}

/** A read error for the user: the safetensors parser quotes the bytes it choked on, which must not be echoed. */
function readProblem(file: CheckpointFile, err: unknown): string {
  const message = (err as Error).message.replace(`${file.name}: `, '');
  if (err instanceof SafetensorsError && err.code === 'HEADER_INVALID_JSON')
    return 'cannot read: its header is not valid JSON (is it a safetensors file?)';
  return `cannot read: ${message}`;
}

function runIndices(runs: number[] | undefined, count: number): { run: number; index: number }[] {
  if (runs === undefined) return Array.from({ length: count }, (_, index) => ({ run: 0, index }));
  if (runs.length !== count) {
    throw new ImportError(
      `runs gives ${runs.length} run numbers for ${count} checkpoint files; give one per file`,
    );
  }
  const bad = runs.findIndex((r) => !Number.isInteger(r) || r < 0);
  if (bad >= 0) throw new ImportError(`runs[${bad}] = ${runs[bad]} is not a non-negative integer`);
  const max = Math.max(...runs);
  const perRun = new Array<number>(max + 1).fill(0);
  const out = runs.map((run) => ({ run, index: perRun[run]!++ }));
  const empty = perRun.indexOf(0);
  if (empty >= 0)
    throw new ImportError(`run ${empty} has no checkpoints; number the runs 0 … ${max} without gaps`);
  return out;
}

/** Same tensors in `order`; float tensors as F32 (the reader already widened or rounded the values). */
function normalized(sd: StateDict, order: string[]): StateDict {
  const out: StateDict = new Map();
  for (const name of order) {
    const t = sd.get(name)!;
    out.set(name, FLOAT_DTYPES.has(t.dtype) ? { dtype: 'F32', shape: [...t.shape], data: t.data } : t);
  }
  return out;
}

/**
 * Imports checkpoints trained elsewhere (e.g. PyTorch `save_file(model.state_dict(), …)`) as a checkpoints
 * directory. All files are read and checked first ({@link checkCheckpoints}: same names, shapes and dtypes,
 * finite floats, equal non-float tensors; with `network`, exactly its {@link parameterLayout}); on any problem
 * an {@link ImportError} lists every one and nothing is written. Float tensors (F16, BF16, F64) are stored as
 * F32, others (I64, …) as they are; tensors are stored in the network's order when it is given, else in the
 * first file's order. Each file becomes one entry (`run` from `options.runs`, default 0; `step` null;
 * `testAccuracy` measured with `network` and `dataset`, else null), named `run<r>-ckpt<i>.safetensors`;
 * `runs[r].sources` records the source file names. `destDir` must not exist or be empty; it appears complete
 * or not at all.
 */
export async function importCheckpoints(
  srcPaths: string[],
  destDir: string,
  options: ImportOptions = {},
): Promise<CheckpointsMeta> {
  const { dataset, onWarning, progress = silentProgress } = options;
  const network = options.network === undefined ? undefined : networkSpecSchema.parse(options.network);
  if (dataset && !network)
    throw new ImportError('measuring accuracy needs the network: give network with dataset');
  if (dataset && network) {
    const need = inputSize(network);
    const have = numel(dataset.inputShape);
    if (need !== have || numClassesOf(network) !== dataset.numClasses) {
      throw new ImportError(
        `${describeSpec(network)} (${need} inputs, ${numClassesOf(network)} classes) does not fit data set "${dataset.name}" ` +
          `(inputShape [${dataset.inputShape}], ${dataset.numClasses} classes)`,
      );
    }
  }
  await assertFreshOutDir(destDir);
  const files = await listCheckpointFiles(srcPaths);
  const placement = runIndices(options.runs, files.length);

  const items: { where: string; stateDict: StateDict }[] = [];
  const readProblems: CheckpointIssue[] = [];
  for (const [i, file] of files.entries()) {
    try {
      items.push({
        where: file.name,
        stateDict: parseSafetensors(await readFile(file.path), file.name).tensors,
      });
    } catch (err) {
      readProblems.push({ code: 'UNREADABLE', where: file.name, detail: readProblem(file, err) });
    }
    progress({ stage: 'import', step: i + 1, total: files.length, note: 'reading' });
  }
  if (readProblems.length > 0) {
    throw new ImportError(
      `cannot import ${files.length} checkpoints: ${readProblems.length} unreadable\n${formatIssues(readProblems, readProblems.length)}`,
    );
  }
  const { issues, warnings } = checkCheckpoints(items, network);
  if (issues.length > 0) {
    throw new ImportError(
      `cannot import ${files.length} checkpoints: ${issues.length} problem${issues.length === 1 ? '' : 's'} (nothing was written)\n` +
        formatIssues(issues, issues.length),
    );
  }
  for (const w of warnings) onWarning?.(w);

  const order = network ? parameterLayout(network).map((e) => e.name) : [...items[0]!.stateDict.keys()];
  const stateDicts = items.map((it) => normalized(it.stateDict, order));
  const accuracies: (number | null)[] = [];
  for (const [i, sd] of stateDicts.entries()) {
    accuracies.push(dataset && network ? accuracy(network, sd, dataset.test) : null);
    if (dataset) progress({ stage: 'evaluate', step: i + 1, total: stateDicts.length });
  }

  const checkpoints: CheckpointEntry[] = placement.map(({ run, index }, i) => ({
    file: checkpointFileName(run, index),
    run,
    index,
    step: null,
    testAccuracy: accuracies[i] ?? null,
  }));
  const runCount = Math.max(...placement.map((p) => p.run)) + 1;
  const runs = Array.from({ length: runCount }, (_, r) => ({
    imported: true,
    sources: files.filter((_, i) => placement[i]!.run === r).map((f) => basename(f.name)),
  }));
  const meta: CheckpointsMeta = {
    format: 'rpg-checkpoints',
    version: 1,
    network: network ?? null,
    dataset: options.datasetName ?? dataset?.name ?? null,
    runs,
    checkpoints,
  };
  await writeDirAtomically(destDir, async (tmp) => {
    for (const [i, entry] of checkpoints.entries()) {
      await writeCheckpoint(tmp, entry.file, stateDicts[i]!);
      progress({ stage: 'write', step: i + 1, total: checkpoints.length });
    }
    await writeCheckpointsMeta(tmp, meta);
  });
  return meta;
}
