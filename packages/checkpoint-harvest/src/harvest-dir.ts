import { writeDirAtomically } from '@rpg/core/durable-write';
import {
  type CheckpointEntry,
  type CheckpointsMeta,
  checkpointFileName,
  writeCheckpoint,
  writeCheckpointsMeta,
} from './checkpoints-dir.js';
import { type NetworkSpec, networkSpecSchema } from './networks.js';
import type { HarvestResult } from './train.js';

export interface WriteHarvestOptions {
  /** The architecture every run trained. */
  network: NetworkSpec;
  /** The data set the accuracies are on (e.g. `Dataset.name`). */
  datasetName: string;
  /** One result per run; the run index is the array index. */
  results: HarvestResult[];
}

/** `runs[r]` of a harvested collection: the facts of run r that are not per checkpoint. */
export function runFacts(result: HarvestResult): CheckpointsMeta['runs'][number] {
  return {
    seed: result.config.seed,
    convergedAccuracy: result.convergedAccuracy,
    finalAccuracy: result.finalAccuracy,
    seconds: result.seconds,
    stepsPerEpoch: result.stepsPerEpoch,
    // JSON numbers only (a diverged loss never gets here: harvestRun throws on it).
    history: result.history.map((h) => ({
      epoch: h.epoch,
      lr: h.lr,
      loss: h.loss,
      testAccuracy: h.testAccuracy,
    })),
  };
}

/** The metadata of a harvested collection, files named by {@link checkpointFileName}. */
export function harvestMeta(options: WriteHarvestOptions): CheckpointsMeta {
  const { network, datasetName, results } = options;
  if (results.length === 0) throw new Error('writeHarvest: no runs to write');
  const spec = networkSpecSchema.parse(network);
  const checkpoints: CheckpointEntry[] = [];
  results.forEach((result, run) => {
    if (result.checkpoints.length === 0) throw new Error(`writeHarvest: run ${run} has no checkpoints`);
    if (JSON.stringify(result.config.network) !== JSON.stringify(spec)) {
      throw new Error(`writeHarvest: run ${run} trained a different network than the one given`);
    }
    result.checkpoints.forEach((c, index) => {
      checkpoints.push({
        file: checkpointFileName(run, index),
        run,
        index,
        step: c.step,
        testAccuracy: c.testAccuracy,
      });
    });
  });
  return {
    format: 'rpg-checkpoints',
    version: 1,
    network: spec,
    dataset: datasetName,
    runs: results.map(runFacts),
    checkpoints,
  };
}

/**
 * Writes harvested runs as a checkpoints directory (see `checkpoints-dir.ts`): one safetensors file per
 * checkpoint, `run<r>-ckpt<i>.safetensors`, and `checkpoints.json`. `dir` must not exist or be empty; it
 * appears complete or not at all (written as `<dir>.tmp-<random>`, then renamed). Returns the metadata.
 */
export async function writeHarvest(dir: string, options: WriteHarvestOptions): Promise<CheckpointsMeta> {
  const meta = harvestMeta(options);
  await writeDirAtomically(dir, async (tmp) => {
    let k = 0;
    for (const result of options.results) {
      for (const c of result.checkpoints) {
        await writeCheckpoint(tmp, meta.checkpoints[k]!.file, c.stateDict);
        k++;
      }
    }
    await writeCheckpointsMeta(tmp, meta);
  });
  return meta;
}
