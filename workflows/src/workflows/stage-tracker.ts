import { ApplicationFailure, setHandler } from '@temporalio/workflow';
import { checkpointSignal, type ProgressView, progressQuery, type StageProgress } from './definitions.js';

/** A workflow's progress record: its stages (one of them `train`), the running one, training's last checkpoint. */
export type Tracked<S extends string> = Omit<ProgressView, 'stages'> & {
  stages: Record<S | 'train', StageProgress>;
};

/**
 * Answers the `progress` query from `progress`, follows the `train` stage's checkpoint signals, and returns helpers that
 * mark a stage running and done (`run`) and count its finished units (`count`), with each stage's seconds
 * (validate and evaluate left out, as the in-process runners do).
 */
export function trackStages<S extends string>(progress: Tracked<S>) {
  setHandler(progressQuery, () => progress as never);
  setHandler(checkpointSignal, (c) => {
    // Signals may arrive late or out of order; keep the furthest checkpoint.
    const train = (progress.stages as Record<string, StageProgress>).train;
    if (!train || train.status === 'done' || c.step < train.done) return;
    train.done = c.step;
    train.total = c.total;
    progress.resumeRef = c.resumeRef;
    if (c.loss !== undefined) progress.loss = c.loss;
  });
  const stageSeconds: Record<string, number> = {};
  const run = async <T>(stage: S, total: number, fn: () => Promise<T>): Promise<T> => {
    progress.stage = stage;
    Object.assign(progress.stages[stage], { status: 'running', total });
    const started = Date.now();
    const out = await fn();
    const seconds = (Date.now() - started) / 1000;
    Object.assign(progress.stages[stage], { status: 'done', done: total, seconds });
    if (stage !== 'validate' && stage !== 'evaluate') stageSeconds[stage] = seconds;
    return out;
  };
  const count = <T>(stage: S, p: Promise<T>): Promise<T> =>
    p.then((v) => {
      progress.stages[stage].done++;
      return v;
    });
  return { stageSeconds, run, count };
}

/** A pending record of every stage. */
export function pendingStages<S extends string>(names: readonly S[]): Record<S, StageProgress> {
  return Object.fromEntries(names.map((s) => [s, { status: 'pending', done: 0, total: 1 }])) as Record<
    S,
    StageProgress
  >;
}

/** Fails the run itself with a non-retryable validation failure's message, which names every bad field. */
export function failOnInvalidConfig(err: unknown): never {
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof ApplicationFailure && cause.nonRetryable) {
    throw ApplicationFailure.nonRetryable(cause.message, cause.type ?? undefined);
  }
  throw err;
}
