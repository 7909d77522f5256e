import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseTaskReport, type TaskReport } from '@rpg/evaluator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipelineStatus, startPipeline } from '../src/client.js';
import { experimentWorkflowId, parseExperiment, workflowTypeOf } from '../src/experiment.js';
import { runUnseenLocal } from '../src/run-unseen-local.js';
import { parseUnseenConfig } from '../src/unseen-config.js';
import type { UnseenPipelineResult } from '../src/workflows/definitions.js';
import { rpg } from './cli-process.js';
import { startTemporalTestEnv, type TemporalTestEnv } from './temporal-env.js';
import { tinyUnseenConfig } from './tiny-unseen-config.js';

let env: TemporalTestEnv;
let stopWorkers: () => Promise<void>;
beforeAll(async () => {
  env = await startTemporalTestEnv();
  stopWorkers = await env.startWorkers({ storeDir: join(env.root, 'store') });
});
afterAll(async () => {
  await stopWorkers?.();
  await env?.teardown();
});

/** The report without what legitimately differs between two runs: timings, dates. */
function comparable(r: TaskReport) {
  const { createdAt, evaluateSeconds, stageSeconds, ...rest } = r;
  return rest;
}

/** Fewer tasks and steps than the in-process test: this one checks the workflow, not the quality. */
function smallConfig() {
  const config = tinyUnseenConfig();
  config.tasks = { unseen: 2, seen: 12, seed: 0, evaluateSeen: 1 };
  config.train.steps = 120;
  return config;
}

describe('the unseen-task experiment through Temporal', () => {
  it('fans out harvest and generation per task and reports what the in-process run reports', async () => {
    const experiment = parseExperiment(smallConfig());
    expect(experiment.kind).toBe('unseen');
    const id = experimentWorkflowId(experiment);
    const started = await startPipeline<UnseenPipelineResult>(
      env.client,
      id,
      { config: smallConfig() },
      workflowTypeOf(experiment),
    );
    const result = await started.handle.result();
    expect(result.tasks).toEqual({ seen: 12, unseen: 2 });

    // One activity per (task, run): 12 seen + 2 unseen harvests, one generation per evaluated task + the ablation.
    const history = await started.handle.fetchHistory();
    const scheduled = (history.events ?? [])
      .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)
      .filter(Boolean);
    const countOf = (name: string) => scheduled.filter((n) => n === name).length;
    expect(countOf('harvestTaskRun')).toBe(14);
    expect(countOf('generate')).toBe(3 + 1);
    expect(countOf('trainGenerator')).toBe(2);
    expect(countOf('evaluateTasks')).toBe(1);

    const status = await pipelineStatus(started.handle);
    expect(status.progress?.stage).toBe('done');
    expect(status.progress?.stages['harvest-seen']).toMatchObject({ status: 'done', done: 12, total: 12 });
    expect(status.progress?.stages['harvest-scratch']?.status).toBe('skipped');
    const shown = await rpg(['status', id], { TEMPORAL_ADDRESS: env.server.address });
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/harvest-seen\s+done\s+12\/12/);
    expect(shown.stdout).toMatch(/harvest-scratch\s+skipped/);

    const report = parseTaskReport(JSON.parse(await readFile(join(result.reportDir, 'report.json'), 'utf8')));
    const local = await runUnseenLocal(parseUnseenConfig(smallConfig()), {
      storeDir: join(env.root, 'local'),
    });
    expect(comparable(report)).toEqual(comparable(local.report));
    expect(report.summary.unseen?.tasks).toBe(2);
  }, 240_000);
});
