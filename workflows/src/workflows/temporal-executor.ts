import type { Executor } from './executor.js';
import type { trackStages } from './stage-tracker.js';

/**
 * The workflow's executor: stages tracked for the progress query, units started together (Temporal runs them on
 * whichever workers are free), each counted as it finishes.
 */
export function temporalExecutor<S extends string>(
  tracker: ReturnType<typeof trackStages<S>>,
  skip: (name: S) => void,
): Executor<S> {
  const { stageSeconds, run, count } = tracker;
  return {
    stageSeconds,
    stage: run,
    skip,
    each: (name, items, fn) => Promise.all(items.map((item, i) => count(name, fn(item, i)))),
    all: (items, fn) => Promise.all(items.map((item, i) => fn(item, i))),
  };
}
