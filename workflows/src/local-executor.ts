/**
 * The in-process executor of the stage graphs (`rpg local`): stages timed and reported to `onStage`, units run one
 * after another (one process's tfjs already uses every core), stopping between units when the signal fires.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ArtifactRef, ArtifactStore, type ProgressSink, silentProgress } from '@rpg/core';
import type { Executor } from './workflows/executor.js';

export interface LocalRunOptions {
  /** Artifact store root (default `.rpg/store`). Finished stages found there are reused, not recomputed. */
  storeDir?: string;
  /** Progress of each stage (the stage name is in the event). */
  progress?: ProgressSink;
  /** Called when a stage starts and ends. */
  onStage?: (stage: string, event: 'start' | 'end', seconds?: number) => void;
  signal?: AbortSignal;
}

/** Times stages (a stage run twice adds up) and reports their start and end to `onStage`. */
export function stageTimer(onStage?: LocalRunOptions['onStage']) {
  const stageSeconds: Record<string, number> = {};
  const timed = async <T>(stage: string, fn: () => Promise<T>): Promise<T> => {
    onStage?.(stage, 'start');
    const started = performance.now();
    const out = await fn();
    const seconds = (performance.now() - started) / 1000;
    stageSeconds[stage] = (stageSeconds[stage] ?? 0) + seconds;
    onStage?.(stage, 'end', seconds);
    return out;
  };
  return { stageSeconds, timed };
}

/** The context a stage function gets: progress, and the signal that stops it. */
export interface LocalStageContext {
  store: ArtifactStore;
  progress?: ProgressSink;
  signal?: AbortSignal;
}

/**
 * The store of `options`, an executor over it, and `ctx()`, the context for the stage call being made: inside a
 * one-bar fan-out the units report nothing themselves (the executor reports one event per finished unit).
 * `evaluated` turns an evaluate stage's report ref into what the graphs take (the ref and where it is stored).
 */
export function localExecutor<S extends string>(options: LocalRunOptions) {
  const store = new ArtifactStore(options.storeDir ?? '.rpg/store');
  const progress = options.progress ?? silentProgress;
  const { signal } = options;
  const { stageSeconds, timed } = stageTimer(options.onStage);
  let oneBar = false;
  const sequential = async <T, R>(
    items: readonly T[],
    fn: (item: T, index: number) => Promise<R>,
    done?: (count: number) => void,
  ): Promise<R[]> => {
    const out: R[] = [];
    for (const [i, item] of items.entries()) {
      signal?.throwIfAborted();
      out.push(await fn(item, i));
      done?.(out.length);
    }
    return out;
  };
  const executor: Executor<S> = {
    stageSeconds,
    stage: (name, _total, fn) => timed(name, fn),
    skip: () => {},
    async each(name, items, fn, eachOptions) {
      const outer = oneBar;
      oneBar = eachOptions?.oneBar ?? false;
      try {
        return await sequential(items, fn, (step) => {
          if (oneBar) progress({ stage: name, step, total: items.length });
        });
      } finally {
        oneBar = outer;
      }
    },
    all: (items, fn) => sequential(items, fn),
  };
  const ctx = (): LocalStageContext =>
    oneBar ? { store } : { store, progress, ...(signal ? { signal } : {}) };
  const evaluated = async (report: Promise<ArtifactRef>) => {
    const ref = await report;
    return { report: ref, reportDir: (await store.get(ref)).dir };
  };
  return { store, executor, ctx, evaluated };
}

/** The `report.json` a run's evaluate stage wrote. */
export async function readReportJson(reportDir: string): Promise<unknown> {
  return JSON.parse(await readFile(join(reportDir, 'report.json'), 'utf8'));
}
