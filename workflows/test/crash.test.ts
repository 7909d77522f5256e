import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ArtifactRef, ArtifactStore } from '@rpg/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PipelineHandle, pipelineStatus, startPipeline } from '../src/client.js';
import { pipelineWorkflowId } from '../src/workflow-id.js';
import { rpg, spawnRpg } from './cli-process.js';
import { startTemporalTestEnv, type TemporalTestEnv } from './temporal-env.js';
import { tinyConfig } from './tiny-config.js';

let env: TemporalTestEnv;
let storeDir: string;
let stopCpuWorker: () => Promise<void>;
beforeAll(async () => {
  env = await startTemporalTestEnv();
  storeDir = join(env.root, 'store');
  // The workflow and the CPU stages run here; training and generation go to the GPU queue's workers below.
  stopCpuWorker = await env.startWorkers({ storeDir, queues: ['rpg-cpu'] });
});
afterAll(async () => {
  await stopCpuWorker?.();
  await env?.teardown();
});

/** Training with a resume checkpoint every 30 steps; `seed` makes another generator on the same harvest. */
function config(seed: number, steps: number) {
  const c = tinyConfig({ steps, checkpointEvery: 30 });
  c.name = 'resume';
  c.train.seed = seed;
  return c;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The training activity's last heartbeat as the server recorded it, once it carries a resume checkpoint. */
async function trainingHeartbeat(handle: PipelineHandle) {
  const s = await pipelineStatus(handle);
  const d = s.activities.find((a) => a.activity === 'trainGenerator')?.details;
  const ref = ArtifactRef.safeParse(d?.resumeRef);
  return ref.success ? { step: d!.step as number, resumeRef: ref.data } : undefined;
}

const stepOf = async (ref: ArtifactRef) =>
  ((await new ArtifactStore(storeDir).get(ref)).manifest.config as { step: number }).step;

describe('a worker process killed in the middle of generator training', () => {
  it('is replaced by a new worker process that continues from the last resume checkpoint', async () => {
    const workerArgs = ['worker', '--queues', 'rpg-gpu', '--store', storeDir];
    const workerEnv = { TEMPORAL_ADDRESS: env.server.address };
    const first = spawnRpg(workerArgs, workerEnv);
    const c = config(0, 120);
    const { handle } = await startPipeline(env.client, pipelineWorkflowId(c), {
      config: c,
      // Temporal notices the dead worker when a heartbeat is this late (2 minutes by default).
      heartbeatTimeout: '10 seconds',
    });
    await until('a heartbeat with a resume checkpoint', () => trainingHeartbeat(handle));
    first.child.kill('SIGKILL');
    await once(first.child, 'exit');
    // What the killed attempt reached: its last heartbeat on the server, or its last printed step if later.
    const recorded = (await trainingHeartbeat(handle))!;
    const printed = [...first.output().matchAll(/train\s+\[[#.]+\]\s+(\d+)\/120/g)].map((m) => Number(m[1]));
    const reached = Math.max(recorded.step, ...printed);
    // Read now: the resumed training keeps only its latest resume states, so this one is pruned later.
    const recordedStep = await stepOf(recorded.resumeRef);

    const killedAt = performance.now();
    const second = spawnRpg(workerArgs, workerEnv);
    try {
      const result = await handle.result();
      const resumed = result.train.resumedFrom;
      console.log(
        `killed at step ${reached} (server's last heartbeat: step ${recorded.step}); the new worker resumed ` +
          `from step ${resumed}: ${reached - (resumed ?? 0)} steps lost; kill to finish ` +
          `${((performance.now() - killedAt) / 1000).toFixed(1)} s`,
      );
      expect(result.train.attempt).toBeGreaterThanOrEqual(2);
      expect(resumed).toBeGreaterThan(0);
      expect(resumed).toBeLessThanOrEqual(reached);
      // It continued from the checkpoint in the heartbeat Temporal recorded, not from scratch or a guess.
      expect(resumed).toBe(recordedStep);
      expect(second.output()).toMatch(/train\s+\[[#.]+\]\s+\d+\/120/);
    } finally {
      second.child.kill('SIGTERM');
      await once(second.child, 'exit');
    }
  }, 240_000);
});

describe('rpg cancel on a training pipeline', () => {
  it('stops training at its next step, keeps the checkpoint, and starting the config again resumes', async () => {
    const steps: number[] = [];
    const stopGpuWorker = await env.startWorkers({
      storeDir,
      queues: ['rpg-gpu'],
      echo: (e) => {
        if (e.stage === 'train') steps.push(e.step);
      },
    });
    try {
      // Long enough that the cancel (a CLI process starting) lands mid-training on a faster machine too.
      const c = config(1, 240);
      const id = pipelineWorkflowId(c);
      const { handle } = await startPipeline(env.client, id, { config: c });
      await until('a durable checkpoint in the progress query', async () =>
        (await pipelineStatus(handle)).progress?.resumeRef ? true : undefined,
      );
      const stepsBefore = steps.length;
      const cancelled = await rpg(['cancel', id], { TEMPORAL_ADDRESS: env.server.address });
      expect(cancelled.code, cancelled.stderr).toBe(0);
      expect(cancelled.stdout).toContain(`workflow ${id} is CANCELLED`);
      // The workflow closed only after the activity stopped (WAIT_CANCELLATION_COMPLETED): no step after that.
      const stepsAtClose = steps.length;
      await new Promise((r) => setTimeout(r, 1500));
      expect(steps.length).toBe(stepsAtClose);
      console.log(
        `steps trained while \`rpg cancel\` ran (CLI start included): ${stepsAtClose - stepsBefore}`,
      );

      const pointers = await readdir(join(storeDir, 'resume'));
      const kept = await Promise.all(
        pointers.map(async (f) =>
          stepOf(ArtifactRef.parse(JSON.parse(await readFile(join(storeDir, 'resume', f), 'utf8')))),
        ),
      );
      const last = Math.max(...steps);
      expect(kept.some((s) => s > 0 && s <= last)).toBe(true);

      const again = await startPipeline(env.client, id, { config: c });
      expect(again.found).toBe('restarted');
      const result = await again.handle.result();
      expect(result.train.resumedFrom).toBeGreaterThan(0);
      expect(result.train.resumedFrom).toBeLessThanOrEqual(last);
    } finally {
      await stopGpuWorker();
    }
  }, 240_000);
});
