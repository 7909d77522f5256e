import { datasetSpecSchema, loadDataset, readCheckpointsDir } from '@rpg/checkpoint-harvest';
import {
  type ArtifactRef,
  type ArtifactStore,
  type ProgressSink,
  type StateDict,
  silentProgress,
} from '@rpg/core';
import { type TaskDescriptor, taskDescriptorSchema, taskId } from '@rpg/task-embedding';
import { z } from 'zod';
import { evaluateTasks, type TaskModels } from './task-evaluate.js';
import { writeTaskReport } from './task-report-html.js';

export const evaluateTasksStageConfigSchema = z
  .object({
    /** The labelled data set the tasks relabel. */
    dataset: datasetSpecSchema,
    title: z.string().optional(),
  })
  .strict();
export type EvaluateTasksStageConfigInput = z.input<typeof evaluateTasksStageConfigSchema>;

/** One task of the evaluation: `checkpoints`/`generated` artifacts of its models. */
export interface TaskGroupRefs {
  task: TaskDescriptor;
  split: 'seen' | 'unseen';
  originals: ArtifactRef;
  generated: ArtifactRef;
  /** Models of the generator trained without the task embedding (may be the same artifact for every task). */
  ablation?: ArtifactRef;
  /** Networks trained on the task from a random initialisation (a second reference). */
  scratch?: ArtifactRef;
}

/**
 * The per-task evaluate stage: for each task, its trained networks, generated models and (optionally) ablation
 * models → a `task-report` artifact with `report.json` and `report.html`. `stageSeconds` and `pipelineConfig` go
 * into the report but not into the artifact key.
 */
export async function evaluateTasksStage(
  ctx: { store: ArtifactStore; progress?: ProgressSink },
  input: {
    groups: readonly TaskGroupRefs[];
    config: EvaluateTasksStageConfigInput;
    stageSeconds?: Record<string, number>;
    pipelineConfig?: unknown;
  },
): Promise<ArtifactRef> {
  const config = evaluateTasksStageConfigSchema.parse(input.config);
  if (input.groups.length === 0) throw new Error('evaluateTasksStage: no tasks to evaluate');
  const groups = input.groups.map((g, i) => {
    const task = taskDescriptorSchema.safeParse(g.task);
    if (!task.success) throw new Error(`groups[${i}].task is not a task descriptor: ${task.error.message}`);
    return { ...g, task: task.data };
  });
  const { store } = ctx;
  const inputs = groups.flatMap((g) => [
    g.originals,
    g.generated,
    ...(g.ablation ? [g.ablation] : []),
    ...(g.scratch ? [g.scratch] : []),
  ]);
  const keyConfig = {
    ...config,
    tasks: groups.map((g) => ({
      id: taskId(g.task),
      split: g.split,
      ablation: g.ablation !== undefined,
      scratch: g.scratch !== undefined,
    })),
  };
  return store.put(
    { kind: 'task-report', stage: 'evaluate-tasks', config: keyConfig, inputs },
    async (dir) => {
      // One read per artifact: the same StateDict objects are then predicted once, however many tasks share them.
      const cache = new Map<string, Promise<{ network: unknown; models: StateDict[] }>>();
      const read = (ref: ArtifactRef) => {
        let hit = cache.get(ref.uri);
        if (!hit) {
          hit = store
            .get(ref)
            .then(({ dir: d }) => readCheckpointsDir(d))
            .then(({ meta, stateDicts }) => ({ network: meta.network, models: stateDicts }));
          cache.set(ref.uri, hit);
        }
        return hit;
      };
      const tasks: TaskModels[] = [];
      let network: unknown;
      for (const g of groups) {
        const originals = await read(g.originals);
        network ??= originals.network;
        tasks.push({
          task: g.task,
          split: g.split,
          originals: originals.models,
          generated: (await read(g.generated)).models,
          ...(g.ablation ? { ablation: (await read(g.ablation)).models } : {}),
          ...(g.scratch ? { scratch: (await read(g.scratch)).models } : {}),
        });
      }
      if (!network) throw new Error('the originals record no network spec: cannot run their models');
      const report = await evaluateTasks({
        spec: network as Parameters<typeof evaluateTasks>[0]['spec'],
        dataset: loadDataset(config.dataset),
        tasks,
        progress: ctx.progress ?? silentProgress,
        ...(config.title ? { title: config.title } : {}),
        ...(input.stageSeconds ? { stageSeconds: input.stageSeconds } : {}),
        ...(input.pipelineConfig === undefined ? {} : { config: input.pipelineConfig }),
      });
      await writeTaskReport(dir, report);
    },
  );
}
