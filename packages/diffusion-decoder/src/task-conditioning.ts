import { type CheckpointsMeta, readCheckpointsMeta } from '@rpg/checkpoint-harvest';
import type { ArtifactRef, ArtifactStore } from '@rpg/core';
import { taskId, taskInputDim, taskVector } from '@rpg/task-embedding';
import type { TrainTasks } from './train-generator.js';

/**
 * The `checkpoints.json` of the collection a `tokens` artifact was made from (its manifest's first input): the
 * per-checkpoint facts (task, run) that the tokens themselves do not carry. Its checkpoints are in token order.
 */
export async function checkpointsOfTokens(
  store: ArtifactStore,
  tokens: ArtifactRef,
): Promise<CheckpointsMeta> {
  const { manifest } = await store.get(tokens);
  const source = manifest.inputs[0];
  if (!source) throw new Error(`tokens artifact ${tokens.uri} records no checkpoints input`);
  return readCheckpointsMeta((await store.get(source)).dir);
}

/** Each checkpoint's task as {@link TrainTasks}: the distinct task vectors (first-seen order) and an index per checkpoint. */
export function tasksOf(meta: CheckpointsMeta, inputDim: number): TrainTasks {
  const ids: string[] = [];
  const vectors: Float32Array[] = [];
  const of = meta.checkpoints.map((c) => {
    if (!c.task) {
      throw new Error(
        `checkpoint ${c.file} records no task: a task-conditioned generator trains on checkpoints harvested per task`,
      );
    }
    if (taskInputDim(c.task) !== inputDim) {
      throw new Error(
        `checkpoint ${c.file}: task ${taskId(c.task)} has ${taskInputDim(c.task)} values, prototype.task.inputDim is ${inputDim}`,
      );
    }
    const id = taskId(c.task);
    let i = ids.indexOf(id);
    if (i < 0) {
      i = ids.push(id) - 1;
      vectors.push(taskVector(c.task));
    }
    return i;
  });
  return { vectors, of };
}

/**
 * One permutation state per harvest seed: checkpoints of runs that started from the same seed (the same initial
 * weights, e.g. run r of every task) share a state; states are numbered in ascending seed order.
 */
export function seedStates(meta: CheckpointsMeta): number[] {
  const seedOfRun = meta.runs.map((facts, r) => {
    const seed = facts.seed;
    if (typeof seed !== 'number') throw new Error(`run ${r} of the checkpoints records no seed`);
    return seed;
  });
  const seeds = [...new Set(seedOfRun)].sort((a, b) => a - b);
  return meta.checkpoints.map((c) => {
    const seed = seedOfRun[c.run];
    if (seed === undefined) throw new Error(`checkpoint ${c.file} names run ${c.run}, which is not listed`);
    return seeds.indexOf(seed);
  });
}
