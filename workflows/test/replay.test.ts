import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Runtime, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { beforeAll, describe, expect, it } from 'vitest';
import { HISTORY_FIXTURE } from '../scripts/record-history.js';
import { WORKFLOWS_PATH } from '../src/worker.js';

const silent = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
let history: unknown;

beforeAll(async () => {
  // Core's own log lines go to the silent logger too (the rejected replay logs a warning by design).
  Runtime.install({
    logger: silent as never,
    telemetryOptions: { logging: { filter: { core: 'WARN', other: 'WARN' }, forward: {} } },
  });
  history = JSON.parse(await readFile(HISTORY_FIXTURE, 'utf8'));
});

describe('the recorded history of a real pipeline run', () => {
  it('replays on the current workflow code (a change that breaks running workflows fails here)', async () => {
    await expect(
      Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH }, history, 'rpg-replay-fixture'),
    ).resolves.toBeUndefined();
  });

  it('is rejected by a workflow that schedules its activities in another order', async () => {
    const changed = fileURLToPath(new URL('./fixtures/changed-pipeline.ts', import.meta.url));
    await expect(
      Worker.runReplayHistory({ workflowsPath: changed }, history, 'rpg-replay-fixture'),
    ).rejects.toBeInstanceOf(DeterminismViolationError);
  });
});
