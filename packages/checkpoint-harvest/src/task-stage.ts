import { type ArtifactRef, issueLines, type StateDict, silentProgress } from '@rpg/core';
import { taskDescriptorSchema, taskId } from '@rpg/task-embedding';
import { z } from 'zod';
import {
  readCheckpoint,
  readCheckpointsMeta,
  writeCheckpoint,
  writeCheckpointsMeta,
} from './checkpoints-dir.js';
import { harvestConfigSchema } from './harvest-config.js';
import { harvestMeta } from './harvest-dir.js';
import { describeSpec, type NetworkSpec, numClassesOf, parameterLayout } from './networks.js';
import { datasetSpecSchema, loadDataset, type StageContext } from './stage.js';
import { taskDataset } from './task-data.js';
import { harvestRun } from './train.js';

export const harvestTaskRunInputSchema = z
  .object({
    dataset: datasetSpecSchema,
    /** The network must have 2 outputs (negative, positive). */
    harvest: harvestConfigSchema,
    task: taskDescriptorSchema,
    /** Run r trains with seed `harvest.seed + r`, whatever the task. */
    run: z.number().int().nonnegative(),
  })
  .strict()
  .superRefine((input, ctx) => {
    const outputs = numClassesOf(input.harvest.network);
    if (outputs !== 2) {
      ctx.addIssue({
        code: 'custom',
        path: ['harvest', 'network'],
        message: `${describeSpec(input.harvest.network)} has ${outputs} outputs; a binary task needs 2`,
      });
    }
  });
export type HarvestTaskRunInput = z.input<typeof harvestTaskRunInputSchema> & {
  /**
   * A base network (a `checkpoints` artifact; its last checkpoint) to fine-tune from: every tensor whose name and
   * shape the task's network shares (the backbone) starts from the base's values, the rest (the head, whose
   * output count differs) from the seeded initialisation.
   */
  base?: ArtifactRef;
};

/** The tensors of `base` that `spec` has under the same name and shape: what fine-tuning takes over. */
export function sharedTensors(base: StateDict, spec: NetworkSpec): StateDict {
  const out: StateDict = new Map();
  for (const e of parameterLayout(spec)) {
    const b = base.get(e.name);
    if (b && b.dtype === e.dtype && b.shape.join(',') === e.shape.join(',')) out.set(e.name, b);
  }
  return out;
}

/**
 * One harvest run on one binary task (the data set relabelled by {@link taskDataset}) → a `checkpoints` artifact
 * whose entries record the task. Independent of every other task's run, so a pipeline runs one per task and run
 * side by side, then joins them with `collectCheckpointsStage`.
 *
 * Why the seed does not depend on the task: run r of every task starts from the same initial weights and sees the
 * examples in the same order. The tasks' networks then differ only by what their labels taught them, and hidden
 * unit i plays the same part in all of them; that alignment is what lets one generator interpolate between the
 * tasks it saw. (Networks from unrelated seeds would each be a random permutation of the others' units.)
 */
export async function harvestTaskRunStage(
  ctx: StageContext,
  input: HarvestTaskRunInput,
): Promise<ArtifactRef> {
  const { base, ...rest } = input;
  const r = harvestTaskRunInputSchema.safeParse(rest);
  if (!r.success) {
    throw new Error(`invalid task harvest input: ${issueLines(r.error).join('; ')}`);
  }
  const parsed = r.data;
  return ctx.store.put(
    { kind: 'checkpoints', stage: 'harvest-task-run', config: parsed, inputs: base ? [base] : [] },
    async (dir) => {
      const dataset = taskDataset(loadDataset(parsed.dataset), parsed.task);
      let init: StateDict | undefined;
      if (base) {
        const { dir: baseDir } = await ctx.store.get(base);
        const baseMeta = await readCheckpointsMeta(baseDir);
        init = sharedTensors(
          await readCheckpoint(baseDir, baseMeta.checkpoints.at(-1)!),
          parsed.harvest.network,
        );
        if (init.size === 0) {
          throw new Error(`the base network shares no tensor with ${describeSpec(parsed.harvest.network)}`);
        }
      }
      const result = await harvestRun({
        ...parsed.harvest,
        seed: parsed.harvest.seed + parsed.run,
        dataset,
        progress: ctx.progress ?? silentProgress,
        ...(init ? { init } : {}),
      });
      const meta = harvestMeta({
        network: parsed.harvest.network,
        datasetName: dataset.name,
        results: [result],
      });
      meta.checkpoints = meta.checkpoints.map((c) => ({ ...c, task: parsed.task }));
      meta.runs = meta.runs.map((facts) => ({ ...facts, task: taskId(parsed.task) }));
      for (const [i, c] of result.checkpoints.entries()) {
        await writeCheckpoint(dir, meta.checkpoints[i]!.file, c.stateDict);
      }
      await writeCheckpointsMeta(dir, meta);
    },
  );
}
