import { existsSync, mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { startDevServer } from '../src/dev-server.js';
import { ensureTemporalCli, findTemporalCli } from '../src/temporal-cli.js';

const workflowsPath = createRequire(import.meta.url).resolve('./fixtures/echo-workflow.ts');
const activities = { shout: async (text: string) => text.toUpperCase() };

beforeAll(() => {
  Runtime.install({
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } as never,
  });
});

/** Runs one `echo` workflow through a real worker connected to `address`; returns its result. */
async function runEcho(address: string, taskQueue: string, workflowId: string): Promise<string> {
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({ connection, taskQueue, workflowsPath, activities });
  const client = new Client({ connection: await Connection.connect({ address }) });
  try {
    return await worker.runUntil(
      client.workflow.execute('echo', { args: ['hello'], taskQueue, workflowId }) as Promise<string>,
    );
  } finally {
    await client.connection.close();
    await connection.close();
  }
}

describe('Temporal CLI lookup', () => {
  it('finds the project-local CLI installed by infra/setup.sh', () => {
    const cli = findTemporalCli();
    expect(cli, 'run `bash infra/setup.sh` to install the Temporal CLI').toBeDefined();
    expect(ensureTemporalCli()).toBe(cli);
  });

  it('rejects a TEMPORAL_CLI_PATH that is not an executable', () => {
    const saved = process.env.TEMPORAL_CLI_PATH;
    process.env.TEMPORAL_CLI_PATH = '/nonexistent/temporal';
    try {
      expect(() => findTemporalCli()).toThrow(
        'TEMPORAL_CLI_PATH=/nonexistent/temporal is not an executable file',
      );
    } finally {
      if (saved === undefined) delete process.env.TEMPORAL_CLI_PATH;
      else process.env.TEMPORAL_CLI_PATH = saved;
    }
  });
});

describe('the dev server from infra/', () => {
  it('starts with a SQLite file, runs a workflow on a real worker, keeps history across a restart', async () => {
    const dbFile = join(mkdtempSync(join(tmpdir(), 'rpg-temporal-')), 'temporal.db');
    let server = await startDevServer({ dbFile, port: 0, uiPort: 0 });
    try {
      expect(existsSync(dbFile)).toBe(true);
      expect(server.uiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const ui = await fetch(server.uiUrl!);
      expect(ui.status).toBe(200);
      expect(await runEcho(server.address, 'infra-test', 'echo-1')).toBe('echo: HELLO');
    } finally {
      await server.stop();
    }
    // The same SQLite file after a restart still holds the finished workflow: what resumable runs rely on.
    server = await startDevServer({ dbFile, port: 0, headless: true });
    try {
      const client = new Client({ connection: await Connection.connect({ address: server.address }) });
      const description = await client.workflow.getHandle('echo-1').describe();
      expect(description.status.name).toBe('COMPLETED');
      expect(await client.workflow.getHandle('echo-1').result()).toBe('echo: HELLO');
      await client.connection.close();
    } finally {
      await server.stop();
    }
  }, 120_000);

  it('says which port is taken when one is', async () => {
    const server = await startDevServer({
      port: 0,
      headless: true,
      dbFile: join(tmpdir(), `rpg-t-${process.pid}.db`),
    });
    try {
      const port = Number(server.address.split(':')[1]);
      await expect(startDevServer({ port, headless: true })).rejects.toThrow(
        `Port ${port} (gRPC) is already in use`,
      );
    } finally {
      await server.stop();
    }
  }, 60_000);
});

describe('@temporalio/testing with the existing binary (no download)', () => {
  it('runs a workflow in TestWorkflowEnvironment.createLocal', async () => {
    const path = ensureTemporalCli();
    const env = await TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'existing-path', path } },
    });
    try {
      const worker = await Worker.create({
        connection: env.nativeConnection,
        taskQueue: 'infra-test-env',
        workflowsPath,
        activities,
      });
      const result = await worker.runUntil(
        env.client.workflow.execute('echo', {
          args: ['hello'],
          taskQueue: 'infra-test-env',
          workflowId: 'echo-env',
        }),
      );
      expect(result).toBe('echo: HELLO');
    } finally {
      await env.teardown();
    }
  }, 120_000);
});
