/**
 * Records test/fixtures/pipeline-history.json, the history the replay test replays to catch workflow changes that
 * would break runs already in flight: a real run of a small pipeline (two harvest runs in parallel, training with
 * checkpoint signals, two generated models) on a throwaway dev server.
 *
 * Re-record only after a workflow change that is meant to be incompatible (and then version running workflows
 * with `patched()`, or let them finish first): `pnpm --filter @rpg/workflows record-history`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBackend } from '@rpg/core';
import { startDevServer } from '@rpg/infra';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { NativeConnection } from '@temporalio/worker';
import { startPipeline } from '../src/client.js';
import { installTemporalRuntime } from '../src/commands/common.js';
import { createPipelineWorkers, runWorkers } from '../src/worker.js';
import { tinyConfig } from '../test/tiny-config.js';

export const HISTORY_FIXTURE = fileURLToPath(
  new URL('../test/fixtures/pipeline-history.json', import.meta.url),
);

/** The config of the recorded run: the tiny test pipeline, widened to exercise both fan-outs. */
export function recordedConfig() {
  const config = tinyConfig({ steps: 60 });
  config.name = 'replay';
  config.runs = 2;
  config.train.checkpointEvery = 20;
  config.generate.count = 2;
  return config;
}

async function main() {
  installTemporalRuntime();
  await loadBackend();
  const root = await mkdtemp(join(tmpdir(), 'rpg-record-'));
  const server = await startDevServer({ dbFile: join(root, 'temporal.db'), port: 0, headless: true });
  const connection = await NativeConnection.connect({ address: server.address });
  const client = new Client({ connection: await Connection.connect({ address: server.address }) });
  const stop = new AbortController();
  try {
    const workers = await createPipelineWorkers({ connection, storeDir: join(root, 'store') });
    const running = runWorkers(workers, stop.signal);
    const { handle } = await startPipeline(client, 'rpg-replay-fixture', { config: recordedConfig() });
    await handle.result();
    const history = await handle.fetchHistory();
    await writeFile(HISTORY_FIXTURE, `${historyToJSON(history)}\n`);
    console.log(`wrote ${HISTORY_FIXTURE} (${history.events?.length} events)`);
    stop.abort();
    await running;
  } finally {
    stop.abort();
    await client.connection.close();
    await connection.close();
    await server.stop();
    await rm(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
