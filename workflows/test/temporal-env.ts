/**
 * A real Temporal dev server (from infra/, SQLite in a temp dir, free ports) for one test file, with helpers to
 * run pipeline workers in this process. Nothing here stubs Temporal.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBackend, type ProgressSink } from '@rpg/core';
import { type DevServer, startDevServer } from '@rpg/infra';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, type Worker, type WorkflowBundle } from '@temporalio/worker';
import { bundlePipelineWorkflows, createPipelineWorkers } from '../src/worker.js';
import type { TaskQueue } from '../src/workflows/definitions.js';

const silent = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
let runtimeInstalled = false;

export interface TemporalTestEnv {
  server: DevServer;
  client: Client;
  connection: NativeConnection;
  root: string;
  bundle: WorkflowBundle;
  /** Starts in-process workers on `storeDir`; returns a stop function that waits for them to finish. */
  startWorkers(options: {
    storeDir: string;
    queues?: TaskQueue[];
    echo?: ProgressSink;
  }): Promise<() => Promise<void>>;
  teardown(): Promise<void>;
}

export async function startTemporalTestEnv(options: { ui?: boolean } = {}): Promise<TemporalTestEnv> {
  if (!runtimeInstalled) {
    // Activity failures are expected in some tests; keep the output to what vitest reports.
    Runtime.install({
      logger: silent as never,
      telemetryOptions: { logging: { filter: { core: 'WARN', other: 'WARN' }, forward: {} } },
    });
    runtimeInstalled = true;
  }
  await loadBackend({ log: null });
  const root = await mkdtemp(join(tmpdir(), 'rpg-temporal-test-'));
  const server = await startDevServer({
    dbFile: join(root, 'temporal.db'),
    port: 0,
    uiPort: 0,
    headless: !options.ui,
  });
  const connection = await NativeConnection.connect({ address: server.address });
  const client = new Client({ connection: await Connection.connect({ address: server.address }) });
  const bundle = await bundlePipelineWorkflows();
  const running: Array<{ workers: Worker[]; done: Promise<unknown> }> = [];
  return {
    server,
    client,
    connection,
    root,
    bundle,
    async startWorkers({ storeDir, queues, echo }) {
      const workers = await createPipelineWorkers({
        connection,
        storeDir,
        workflowBundle: bundle,
        ...(queues ? { queues } : {}),
        ...(echo ? { echo } : {}),
      });
      const done = Promise.allSettled(workers.map((w) => w.run()));
      const entry = { workers, done };
      running.push(entry);
      return async () => {
        for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
        await done;
        running.splice(running.indexOf(entry), 1);
      };
    },
    async teardown() {
      for (const { workers, done } of running) {
        for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
        await done;
      }
      await client.connection.close();
      await connection.close();
      await server.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}
