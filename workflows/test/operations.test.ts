/**
 * Operating a pipeline: `rpg status` shows a heartbeat's age and marks a silent activity stale instead of counting
 * its ETA; the ETA after a resume uses this attempt's steps; `--heartbeat-timeout` is bounded; `rpg server` fails
 * loudly when its Temporal process dies.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@rpg/infra';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PipelineStatus } from '../src/client.js';
import { heartbeatTimeoutOption } from '../src/commands/common.js';
import { renderStatus } from '../src/progress-view.js';
import { spawnRpg } from './cli-process.js';

const NOW = Date.parse('2026-01-01T12:00:00Z');

function statusWith(activity: Partial<PipelineStatus['activities'][number]>): PipelineStatus {
  return {
    workflowId: 'rpg-x-1',
    runId: 'r',
    status: 'RUNNING',
    progress: undefined,
    activities: [{ activity: 'train', attempt: 2, state: 'started', details: undefined, ...activity }],
  };
}

describe('rpg status', () => {
  it('a live activity: its bar, the time left from this attempt’s steps, the heartbeat’s age', () => {
    const [, , line] = renderStatus(
      statusWith({
        // Resumed at 400; 100 steps in this attempt's 50 s.
        details: { stage: 'train', step: 500, total: 1000, loss: 0.1, startStep: 400 },
        startedAt: NOW - 50_000,
        lastHeartbeatAt: NOW - 3_000,
      }),
      NOW,
    );
    expect(line).toContain('500/1000');
    expect(line).toContain('0:50<4:10');
    expect(line).toContain('attempt 2');
    expect(line).toMatch(/\(heartbeat 3 s ago\)$/);
  });

  it('an activity silent past the threshold is STALE, with no ETA', () => {
    const status = statusWith({
      details: { stage: 'train', step: 300, total: 1000, startStep: 0 },
      startedAt: NOW - 600_000,
      lastHeartbeatAt: NOW - 95_000,
    });
    const [, , line] = renderStatus(status, NOW);
    expect(line).toContain('STALE: no heartbeat for 1:35 min (last at step 300/1000)');
    expect(line).not.toMatch(/<\d/);
    // A longer threshold shows it as live again.
    expect(renderStatus(status, NOW, 120)[2]).toContain('(heartbeat 1:35 min ago)');
  });

  it('a scheduled (retrying) activity is never stale', () => {
    const [, , line] = renderStatus(
      statusWith({
        state: 'scheduled',
        details: undefined,
        lastFailure: 'boom',
        lastHeartbeatAt: NOW - 999_000,
      }),
      NOW,
    );
    expect(line).toContain('scheduled');
    expect(line).toContain('retrying after: boom');
    expect(line).not.toContain('STALE');
  });
});

describe('--heartbeat-timeout', () => {
  it.each([
    ['90', '90 seconds'],
    ['90s', '90 seconds'],
    ['5m', '300 seconds'],
    ['1h', '3600 seconds'],
  ])('%s → %s', (text, out) => {
    expect(heartbeatTimeoutOption(text)).toBe(out);
  });

  it.each(['5', '2h', '-30', '1e3', 'forever', ''])(
    '%j is refused, naming the flag and the range',
    (text) => {
      expect(() => heartbeatTimeoutOption(text)).toThrow(
        /^--heartbeat-timeout must be a duration from 10 s to 3600 s/,
      );
    },
  );

  it('absent: the workflow’s default', () => {
    expect(heartbeatTimeoutOption(undefined)).toBeUndefined();
  });
});

describe('rpg server', () => {
  let root = '';
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'rpg-server-exit-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('exits 1 and says so when its Temporal process dies', async () => {
    const [port, uiPort] = [await freePort(), await freePort()];
    const server = spawnRpg(
      ['server', '--db', join(root, 'db.sqlite'), '--port', String(port), '--ui-port', String(uiPort)],
      { INIT_CWD: root },
    );
    const exited = new Promise<number | null>((res) => server.child.once('exit', (code) => res(code)));
    const deadline = Date.now() + 90_000;
    let pid: number | undefined;
    while (pid === undefined && Date.now() < deadline && server.child.exitCode === null) {
      const m = /\(pid (\d+), history in/.exec(server.output());
      if (m) pid = Number(m[1]);
      else await new Promise((r) => setTimeout(r, 200));
    }
    expect(pid, server.output()).toBeDefined();
    process.kill(pid!, 'SIGKILL'); // the Temporal process this test's server started
    expect(await exited).toBe(1);
    expect(server.output()).toContain('rpg server: the Temporal dev server exited with signal SIGKILL');
  });
});
