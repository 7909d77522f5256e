import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Report } from '@rpg/evaluator';
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipelineStatus, startPipeline } from '../src/client.js';
import { parsePipelineConfig } from '../src/pipeline-config.js';
import { runPipelineLocal } from '../src/run-local.js';
import { pipelineWorkflowId } from '../src/workflow-id.js';
import { rpg } from './cli-process.js';
import { startTemporalTestEnv, type TemporalTestEnv } from './temporal-env.js';
import { tinyConfig } from './tiny-config.js';

let env: TemporalTestEnv;
let stopWorkers: () => Promise<void>;
let storeDir: string;
beforeAll(async () => {
  env = await startTemporalTestEnv();
  storeDir = join(env.root, 'store');
  stopWorkers = await env.startWorkers({ storeDir });
});
afterAll(async () => {
  await stopWorkers?.();
  await env?.teardown();
});

/** The report without what legitimately differs between two runs: timings, dates, store paths. */
function comparable(r: Report) {
  const { createdAt, evaluateSeconds, stageSeconds, config, ...rest } = r;
  return rest;
}

const until = async (what: string, check: () => Promise<boolean>, timeoutMs = 90_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
};

describe('a config with a bad field', () => {
  it('fails the workflow at once, naming the field, without retries or writing anything', async () => {
    const config = tinyConfig();
    (config.train.prototype as { model: string }).model = 'gru';
    const started = performance.now();
    const { handle } = await startPipeline(env.client, pipelineWorkflowId(config), { config });
    const error = await handle.result().then(
      () => undefined,
      (err: unknown) => err,
    );
    const seconds = (performance.now() - started) / 1000;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect((error as WorkflowFailedError).cause?.message).toMatch(/train\.prototype\.model/);
    expect(seconds).toBeLessThan(10);
    const history = await handle.fetchHistory();
    const scheduled = history.events?.filter((e) => e.activityTaskScheduledEventAttributes) ?? [];
    const failed = history.events?.filter((e) => e.activityTaskFailedEventAttributes) ?? [];
    expect(scheduled.map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)).toEqual([
      'validatePipelineConfig',
    ]);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.activityTaskFailedEventAttributes?.failure?.applicationFailureInfo?.nonRetryable).toBe(
      true,
    );
    expect(existsSync(storeDir)).toBe(false);
  });
});

describe('the tiny pipeline through Temporal', () => {
  it('runs once per config, shows progress in rpg status, and reports what the in-process run reports', async () => {
    // Same seed as the in-process run below, in another store: equal reports mean the same stages ran.
    const config = tinyConfig({ steps: 150, checkpointEvery: 50 });
    const id = pipelineWorkflowId(config);
    const started = performance.now();
    const first = await startPipeline(env.client, id, { config });
    expect(first.found).toBe('new');
    const second = await startPipeline(env.client, id, { config });
    expect(second.found).toBe('running');
    expect(second.runId).toBe(first.runId);

    // Mid-training, the real CLI shows the stage table and the training bar from the heartbeat.
    await until('a durable training checkpoint', async () => {
      const s = await pipelineStatus(first.handle);
      return s.progress?.resumeRef !== undefined && s.activities.some((a) => a.activity === 'trainGenerator');
    });
    const status = await rpg(['status', id], { TEMPORAL_ADDRESS: env.server.address });
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/harvest\s+done/);
    expect(status.stdout).toMatch(/train\s+\[[#.]+\]\s+\d+\/150\s+\d+%\s+loss \d/);
    expect(status.stdout).toMatch(/last training checkpoint: store:train-state\//);
    console.log(`rpg status mid-training:\n${status.stdout}`);

    const result = await first.handle.result();
    console.log(
      `through Temporal in ${((performance.now() - started) / 1000).toFixed(1)} s; stages (s): ${JSON.stringify(result.stageSeconds)}`,
    );
    const again = await startPipeline(env.client, id, { config });
    expect(again.found).toBe('completed');
    expect(again.runId).toBe(first.runId);
    let runs = 0;
    for await (const _ of env.client.workflow.list({ query: `WorkflowId = "${id}"` })) runs++;
    expect(runs).toBe(1);

    const report = JSON.parse(await readFile(join(result.reportDir, 'report.json'), 'utf8')) as Report;
    // Once finished, rpg status ends with the report's verdict line.
    const done = await rpg(['status', id], { TEMPORAL_ADDRESS: env.server.address });
    expect(report.verdictLine).toMatch(/^(MATCH|SHORT|FAILED): /);
    expect(done.stdout).toContain(report.verdictLine);
    const localStarted = performance.now();
    const local = await runPipelineLocal(parsePipelineConfig(config), { storeDir: join(env.root, 'local') });
    console.log(`in-process in ${((performance.now() - localStarted) / 1000).toFixed(1)} s`);
    expect(comparable(report)).toEqual(comparable(local.report as Report));
    expect(report.generated.count).toBe(4);
    expect((report.config as { pipeline: unknown }).pipeline).toEqual(
      (local.report.config as { pipeline: unknown }).pipeline,
    );
  }, 240_000);
});
