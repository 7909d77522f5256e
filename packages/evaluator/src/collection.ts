/**
 * Reading the models to evaluate. The usual input is a checkpoints directory (`checkpoints.json` + safetensors
 * files, the format harvested and generated models are both stored in; see `@rpg/checkpoint-harvest`); plain
 * `*.safetensors` files and directories of them are read too.
 */
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CHECKPOINTS_FILE,
  type CheckpointsMeta,
  describeSpec,
  type NetworkSpec,
  readCheckpoint,
  readCheckpointsMeta,
} from '@rpg/checkpoint-harvest';
import { type ProgressSink, readSafetensorsFile, type StateDict, silentProgress } from '@rpg/core';

/** One checkpoints directory among the inputs, with its metadata. */
export interface CollectionSource {
  dir: string;
  meta: CheckpointsMeta;
  /** Index of its first model in {@link ModelCollection.stateDicts}. */
  offset: number;
}

export interface ModelCollection {
  /** One path per model, in order. */
  files: string[];
  stateDicts: StateDict[];
  /** The checkpoints directories among the inputs (empty for plain safetensors files). */
  sources: CollectionSource[];
  /** Per model, the test accuracy its collection recorded (null when unknown or not a collection). */
  recordedAccuracy: (number | null)[];
}

/** Whether `dir` is a checkpoints directory (has `checkpoints.json`). */
export function isCheckpointsDir(dir: string): boolean {
  return existsSync(join(dir, CHECKPOINTS_FILE));
}

const naturalOrder = new Intl.Collator('en', { numeric: true }).compare;

/**
 * Reads models from checkpoints directories (in their listed order), directories of `*.safetensors` (natural
 * name order: ckpt-2 before ckpt-10) and single `.safetensors` files, concatenated in the order given.
 */
export async function readModelCollection(
  inputs: string | readonly string[],
  opts: { progress?: ProgressSink; stage?: string } = {},
): Promise<ModelCollection> {
  const list = typeof inputs === 'string' ? [inputs] : [...inputs];
  if (list.length === 0) throw new Error('no model files or directories given');
  const progress = opts.progress ?? silentProgress;
  const stage = opts.stage ?? 'read';
  // First resolve every input to files, so progress knows the total.
  const plan: { file: string; read: () => Promise<StateDict>; recorded: number | null }[] = [];
  const sources: CollectionSource[] = [];
  for (const input of list) {
    const info = await stat(input).catch(() => null);
    if (!info) throw new Error(`cannot read ${input}: no such file or directory`);
    if (info.isDirectory() && isCheckpointsDir(input)) {
      const meta = await readCheckpointsMeta(input);
      sources.push({ dir: input, meta, offset: plan.length });
      for (const entry of meta.checkpoints) {
        plan.push({
          file: join(input, entry.file),
          read: () => readCheckpoint(input, entry),
          recorded: entry.testAccuracy,
        });
      }
    } else if (info.isDirectory()) {
      const found = (await readdir(input)).filter((f) => f.endsWith('.safetensors')).sort(naturalOrder);
      if (found.length === 0) {
        throw new Error(`directory ${input} has neither ${CHECKPOINTS_FILE} nor .safetensors files`);
      }
      for (const f of found) {
        const file = join(input, f);
        plan.push({ file, read: async () => (await readSafetensorsFile(file)).tensors, recorded: null });
      }
    } else {
      plan.push({
        file: input,
        read: async () => (await readSafetensorsFile(input)).tensors,
        recorded: null,
      });
    }
  }
  const stateDicts: StateDict[] = [];
  for (const [i, p] of plan.entries()) {
    try {
      stateDicts.push(await p.read());
    } catch (err) {
      throw new Error(`cannot read model ${p.file}: ${(err as Error).message}`);
    }
    progress({ stage, step: i + 1, total: plan.length });
  }
  return {
    files: plan.map((p) => p.file),
    stateDicts,
    sources,
    recordedAccuracy: plan.map((p) => p.recorded),
  };
}

/** The checkpoints directories among `inputs`, metadata only (no model is read). */
export async function readCollectionSources(inputs: readonly string[]): Promise<CollectionSource[]> {
  const out: CollectionSource[] = [];
  let offset = 0;
  for (const input of inputs) {
    if (!isCheckpointsDir(input)) continue;
    const meta = await readCheckpointsMeta(input);
    out.push({ dir: input, meta, offset });
    offset += meta.checkpoints.length;
  }
  return out;
}

/** The MNIST split a data set name from `loadMnist` stands for (`mnist-10k-seed<s>-test<n>`), else null. */
export function mnistSplitOf(datasetName: string): { seed: number; testSize: number; pool: number } | null {
  const m = /^mnist-10k-seed(\d+)-test(\d+)(?:-pool(\d+))?$/.exec(datasetName);
  return m ? { seed: Number(m[1]), testSize: Number(m[2]), pool: m[3] ? Number(m[3]) : 1 } : null;
}

const sameSpec = (a: NetworkSpec, b: NetworkSpec) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The network to evaluate with: `given` if any, else the one the collections record. Throws when collections
 * disagree with each other or with `given` (evaluating with another architecture than the one trained gives
 * meaningless numbers), or when no network is known.
 */
export function resolveNetwork(
  given: NetworkSpec | undefined,
  collections: readonly { sources: readonly CollectionSource[] }[],
): NetworkSpec {
  let found: { spec: NetworkSpec; dir: string } | undefined;
  for (const c of collections) {
    for (const s of c.sources) {
      const spec = s.meta.network;
      if (!spec) continue;
      if (given && !sameSpec(given, spec)) {
        throw new Error(
          `the network given (${describeSpec(given)}) differs from the one ${join(s.dir, CHECKPOINTS_FILE)} records ` +
            `(${describeSpec(spec)}); leave the network out to use the recorded one`,
        );
      }
      if (found && !sameSpec(found.spec, spec)) {
        throw new Error(
          `${join(found.dir, CHECKPOINTS_FILE)} records ${describeSpec(found.spec)} but ` +
            `${join(s.dir, CHECKPOINTS_FILE)} records ${describeSpec(spec)}: the collections are of different networks`,
        );
      }
      found ??= { spec, dir: s.dir };
    }
  }
  const spec = given ?? found?.spec;
  if (!spec) {
    throw new Error(
      'the network is not known: give it (a preset or spec), or use checkpoints directories whose checkpoints.json records it',
    );
  }
  return spec;
}

/**
 * Remarks about a collection measured on `datasetName`: a recorded data set that differs, and recorded test
 * accuracies that differ from the `measured` ones by more than one test sample (`100/testSize` points).
 */
export function collectionNotes(
  what: string,
  c: ModelCollection,
  datasetName: string,
  measured: readonly (number | undefined)[],
  testSize: number,
): string[] {
  const notes: string[] = [];
  for (const s of c.sources) {
    const recorded = s.meta.dataset;
    if (recorded && recorded !== datasetName) {
      notes.push(`${what} in ${s.dir} record data set ${recorded}; this evaluation uses ${datasetName}.`);
      continue;
    }
    const tol = 100 / testSize + 1e-9;
    const off: string[] = [];
    for (let i = 0; i < s.meta.checkpoints.length; i++) {
      const r = c.recordedAccuracy[s.offset + i];
      const m = measured[s.offset + i];
      if (r === null || r === undefined || m === undefined) continue;
      if (Math.abs(r - m) > tol) off.push(`${s.meta.checkpoints[i]!.file} ${r.toFixed(2)} → ${m.toFixed(2)}`);
    }
    if (off.length > 0) {
      notes.push(
        `${off.length} of the ${what} in ${s.dir} measure a test accuracy other than the one recorded ` +
          `(${off.slice(0, 3).join('; ')}${off.length > 3 ? '; …' : ''}): a different data split or network?`,
      );
    }
  }
  return notes;
}
