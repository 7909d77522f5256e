/**
 * Evaluation over many binary tasks (unseen-task generation): each task's originals, generated models and
 * optional ablation models are scored on that task's labels of the test split.
 */

import { type Dataset, majorityAccuracy, type NetworkSpec, taskDataset } from '@rpg/checkpoint-harvest';
import { type ProgressSink, type StateDict, silentProgress } from '@rpg/core';
import { type TaskDescriptor, taskId } from '@rpg/task-embedding';
import { describeNonFinite, nonFiniteModels } from './finite.js';
import { accuracyFromMisses, mean, misclassified } from './metrics.js';
import { TestSetPredictor } from './predict-batch.js';
import { type SplitSummary, type TaskReport, type TaskRow, taskReportSchema } from './task-report-schema.js';
import { withTaskVerdict } from './task-verdict.js';

export interface TaskModels {
  task: TaskDescriptor;
  split: 'seen' | 'unseen';
  /** Networks trained on the task. */
  originals: readonly StateDict[];
  /** Networks generated for the task. */
  generated: readonly StateDict[];
  /** Networks from the generator trained without the task embedding (the same list may serve every task). */
  ablation?: readonly StateDict[];
  /** Networks trained on the task from a random initialisation, a second reference. */
  scratch?: readonly StateDict[];
}

export interface EvaluateTasksInput {
  spec: NetworkSpec;
  /** The labelled data set the tasks relabel (its test split is used). */
  dataset: Dataset;
  tasks: readonly TaskModels[];
  progress?: ProgressSink;
  title?: string;
  notes?: readonly string[];
  stageSeconds?: Record<string, number>;
  config?: unknown;
}

type ModelStats = TaskRow['generated'];

/** best / avg / min of accuracies (percent), with the list. */
export function modelStats(accs: readonly number[]): ModelStats {
  if (accs.length === 0) throw new Error('modelStats needs at least one accuracy');
  return {
    best: Math.max(...accs),
    avg: mean(accs)!,
    min: Math.min(...accs),
    count: accs.length,
    all: [...accs],
  };
}

/** Means over a split's task rows; undefined when the split has no task. */
export function summarizeSplit(rows: readonly TaskRow[]): SplitSummary | undefined {
  if (rows.length === 0) return undefined;
  const avg = (f: (r: TaskRow) => number) => mean(rows.map(f))!;
  const originalAvg = avg((r) => r.original.avg);
  const generatedAvg = avg((r) => r.generated.avg);
  // Only when every task has them: a mean over some tasks would not compare with the others.
  const ablationAvg = rows.every((r) => r.ablation) ? avg((r) => r.ablation!.avg) : undefined;
  const scratchAvg = rows.every((r) => r.scratch) ? avg((r) => r.scratch!.avg) : undefined;
  return {
    tasks: rows.length,
    originalAvg,
    generatedAvg,
    generatedBest: avg((r) => r.generated.best),
    generatedWorstTask: Math.min(...rows.map((r) => r.generated.avg)),
    ratio: generatedAvg / originalAvg,
    chanceAvg: avg((r) => r.chance),
    ...(ablationAvg === undefined ? {} : { ablationAvg, ablationRatio: ablationAvg / originalAvg }),
    ...(scratchAvg === undefined ? {} : { scratchAvg, scratchRatio: generatedAvg / scratchAvg }),
  };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Scores every task's models on its binary labels and assembles the {@link TaskReport}. A model's predictions
 * do not depend on the task, so each distinct model (by object identity) runs on the test inputs once, however
 * many tasks it is scored for.
 */
export async function evaluateTasks(input: EvaluateTasksInput): Promise<TaskReport> {
  const started = performance.now();
  const { spec, dataset } = input;
  let { tasks } = input;
  const progress = input.progress ?? silentProgress;
  if (tasks.length === 0) throw new Error('evaluateTasks needs at least one task');
  const ids = new Set<string>();
  for (const [i, t] of tasks.entries()) {
    const id = `${t.split}:${taskId(t.task)}`;
    if (ids.has(id)) throw new Error(`tasks[${i}]: ${t.split} task ${taskId(t.task)} is listed twice`);
    ids.add(id);
    if (t.originals.length === 0) throw new Error(`tasks[${i}] (${taskId(t.task)}) has no original`);
    if (t.generated.length === 0) throw new Error(`tasks[${i}] (${taskId(t.task)}) has no generated model`);
  }
  // Models with NaN/Inf parameters are reported, never scored (their NaN logits would count as one class).
  const notes = [...(input.notes ?? [])];
  const finite = (list: readonly StateDict[], what: string, t: TaskModels, scored: boolean) => {
    const bad = nonFiniteModels(list);
    if (bad.length === 0) return list;
    const where = `${t.split} task ${taskId(t.task)}`;
    if (!scored || bad.length === list.length) {
      throw new Error(
        `${where}: ${bad.length} of ${list.length} ${what} have non-finite parameters (${describeNonFinite(bad[0]!)}): nothing to score`,
      );
    }
    notes.push(
      `${where}: ${bad.length} of ${list.length} ${what} have non-finite parameters (NaN/Inf), not scored`,
    );
    const skip = new Set(bad.map((b) => b.index));
    return list.filter((_, i) => !skip.has(i));
  };
  tasks = tasks.map((t) => ({
    ...t,
    originals: finite(t.originals, 'originals', t, false),
    generated: finite(t.generated, 'generated models', t, true),
    ...(t.ablation ? { ablation: finite(t.ablation, 'ablation models', t, true) } : {}),
    ...(t.scratch ? { scratch: finite(t.scratch, 'from-scratch models', t, true) } : {}),
  }));
  const models = [
    ...new Set(
      tasks.flatMap((t) => [...t.originals, ...t.generated, ...(t.ablation ?? []), ...(t.scratch ?? [])]),
    ),
  ];
  const predictor = new TestSetPredictor(spec, dataset.test);
  const predictions = new Map<StateDict, Int32Array>();
  try {
    const batch = Math.max(predictor.modelsPerBatch, 8);
    for (let s = 0; s < models.length; s += batch) {
      const group = models.slice(s, s + batch);
      predictor.predict(group).forEach((p, i) => {
        predictions.set(group[i]!, p);
      });
      progress({ stage: 'evaluate', step: Math.min(s + batch, models.length), total: models.length });
      await tick();
    }
  } finally {
    predictor.dispose();
  }

  const rows: TaskRow[] = tasks.map((t) => {
    const labels = taskDataset(dataset, t.task).test;
    const accs = (list: readonly StateDict[]) =>
      list.map((m) => accuracyFromMisses(misclassified(predictions.get(m)!, labels.y), labels.n));
    const original = modelStats(accs(t.originals));
    const generated = modelStats(accs(t.generated));
    return {
      id: taskId(t.task),
      task: t.task,
      split: t.split,
      chance: majorityAccuracy(labels),
      original,
      generated,
      ...(t.ablation ? { ablation: modelStats(accs(t.ablation)) } : {}),
      ...(t.scratch ? { scratch: modelStats(accs(t.scratch)) } : {}),
      ratio: generated.avg / original.avg,
    };
  });
  const unseen = summarizeSplit(rows.filter((r) => r.split === 'unseen'));
  const seen = summarizeSplit(rows.filter((r) => r.split === 'seen'));
  const report = taskReportSchema.parse({
    schemaVersion: 1,
    kind: 'task-report',
    createdAt: new Date().toISOString(),
    ...(input.title === undefined ? {} : { title: input.title }),
    ...(notes.length > 0 ? { notes } : {}),
    dataset: { name: dataset.name, testSize: dataset.test.n },
    network: spec,
    summary: { ...(unseen ? { unseen } : {}), ...(seen ? { seen } : {}) },
    tasks: rows,
    evaluateSeconds: (performance.now() - started) / 1000,
    ...(input.stageSeconds ? { stageSeconds: input.stageSeconds } : {}),
    ...(input.config === undefined ? {} : { config: input.config }),
  });
  return withTaskVerdict(report);
}
