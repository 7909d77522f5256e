/**
 * How a stage graph runs: the stage calls themselves come with each graph; an executor says how a stage is marked
 * and timed and how its units (runs, models, tasks) fan out. The Temporal workflow's executor runs units side by
 * side as activities and answers the progress query; the in-process one runs them one after another. Types only,
 * so a graph written against it loads in the workflow sandbox.
 */

export interface Executor<S extends string> {
  /** Seconds per finished stage, as far as the graph has run (passed on to the report). */
  readonly stageSeconds: Record<string, number>;
  /** Runs `fn` as stage `name` of `total` units: marks it running, then done, and times it. */
  stage<T>(name: S, total: number, fn: () => Promise<T>): Promise<T>;
  /** Marks a stage the config leaves out. */
  skip(name: S): void;
  /**
   * The units of running stage `name`, one per item, each counted when done. `oneBar`: the units are many and
   * short, so show one bar over all of them rather than each unit's own progress.
   */
  each<T, R>(
    name: S,
    items: readonly T[],
    fn: (item: T, index: number) => Promise<R>,
    options?: { oneBar?: boolean },
  ): Promise<R[]>;
  /** Independent calls that are not units of their own (not counted). */
  all<T, R>(items: readonly T[], fn: (item: T, index: number) => Promise<R>): Promise<R[]>;
}

/** 0 … n−1. */
export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** The signal the training activity sends after each durable checkpoint (see `checkpointSignal`). */
export const CHECKPOINT_SIGNAL = 'checkpoint';
