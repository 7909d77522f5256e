/**
 * The real `rpg` CLI on malformed input, with no Temporal server anywhere: every command names the bad config,
 * flag or path and exits 1 before it loads the backend, starts a server or writes anything. The processes are
 * independent, so they run side by side.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@rpg/infra';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rpg } from './cli-process.js';
import { tinyConfig } from './tiny-config.js';

let root = '';
let env: Record<string, string> = {};
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'rpg-malformed-cli-'));
  // A port nothing listens on: a command that tried to connect would say "cannot reach Temporal".
  env = { INIT_CWD: root, TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}` };
  await writeFile(join(root, 'good.json'), JSON.stringify(tinyConfig()));
  await writeFile(join(root, 'bad.json'), JSON.stringify({ ...tinyConfig(), runs: 1e9 }));
  await writeFile(join(root, 'a-file'), 'not a directory');
  await mkdir(join(root, 'a-dir'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

type Command = (argv: string[]) => Promise<number>;
const commands: Record<string, () => Promise<Command>> = {
  start: async () => (await import('../src/commands/start.js')).start,
  run: async () => (await import('../src/commands/run.js')).run,
  local: async () => (await import('../src/commands/local.js')).local,
  worker: async () => (await import('../src/commands/worker.js')).worker,
  gc: async () => (await import('../src/commands/gc.js')).gc,
  status: async () => (await import('../src/commands/status.js')).status,
  server: async () => (await import('../src/commands/server.js')).server,
};

describe('rpg commands, malformed input, no server running (in process)', () => {
  // The same functions the CLI runs; it prints these errors' messages (no stack) and exits 1.
  it.each([
    [['start', 'missing.json'], 'cannot read config <root>/missing.json: no such file'],
    [['start', 'bad.json'], 'runs: Too big: expected number to be <=1000'],
    [['start', 'a-dir'], 'config <root>/a-dir is a directory, not a JSON file'],
    [
      ['start', 'good.json', '--heartbeat-timeout', '1s'],
      '--heartbeat-timeout must be a duration from 10 s to 3600 s',
    ],
    [['start', 'good.json', '--heartbeat-timeout', 'soon'], 'got "soon"'],
    [['start'], 'rpg start takes one config file'],
    [['run', 'bad.json'], 'is not a valid pipeline config'],
    [
      ['run', 'good.json', '--store', 'a-file'],
      '--store a-file cannot be the artifact store: it is a file, not a directory',
    ],
    [['run', 'good.json', '--bogus'], "Unknown option '--bogus'"],
    [
      ['local', 'good.json', '--store', 'a-file/store'],
      '<root>/a-file is a file, not a directory, so the store cannot be created under it',
    ],
    [['worker', '--store', 'a-file'], '--store a-file cannot be the artifact store'],
    [['worker', '--concurrency', '1000'], '--concurrency must be an integer from 1 to 64, got "1000"'],
    [['worker', '--queues', 'rpg-tpu'], 'unknown task queue "rpg-tpu"'],
    [['gc', '--store', 'a-file'], '--store a-file cannot be the artifact store'],
    [['status', 'some-id', '--stale-after', '0'], '--stale-after must be a duration from 1 s to 86400 s'],
    [['server', '--port', '99999'], '--port must be a port number, got "99999"'],
    [
      ['server', '--db', 'a-dir'],
      "--db a-dir cannot hold the server's history: it is a directory, not a file",
    ],
  ])('rpg %j', async (argv, why) => {
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const main = await commands[argv[0]!]!();
      const err = await main(argv.slice(1)).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(err).toBeInstanceOf(Error);
      expect(['UsageError', 'ConfigError']).toContain(err!.name);
      expect(err!.message).toContain(why.replace('<root>', root));
    } finally {
      process.env = saved;
    }
    expect((await readdir(root)).sort()).toEqual(['a-dir', 'a-file', 'bad.json', 'good.json']);
  });
});

describe('rpg (the real CLI), malformed input, no server running', () => {
  it('names the config or path; exit 1; no backend, no connection, no stack, nothing written', async () => {
    const cases: [string[], string][] = [
      [['start', 'missing.json'], `rpg: cannot read config ${join(root, 'missing.json')}: no such file`],
      [['local', 'bad.json'], 'runs: Too big: expected number to be <=1000'],
      [
        ['run', 'good.json', '--store', 'a-file'],
        '--store a-file cannot be the artifact store: it is a file',
      ],
      [['start', 'good.json'], `cannot reach Temporal at ${env.TEMPORAL_ADDRESS}`],
    ];
    const results: Awaited<ReturnType<typeof rpg>>[] = [];
    // Two at a time: each process loads the pipeline's packages.
    for (let i = 0; i < cases.length; i += 2)
      results.push(...(await Promise.all(cases.slice(i, i + 2).map(([args]) => rpg(args, env)))));
    results.forEach((r, i) => {
      const [args, why] = cases[i]!;
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toContain(why);
      if (i < 3) expect(r.stderr, args.join(' ')).not.toContain('cannot reach Temporal');
      expect(r.stderr, args.join(' ')).not.toContain('tfjs backend');
      expect(r.stderr, args.join(' ')).not.toMatch(/^\s+at /m);
    });
    expect((await readdir(root)).sort()).toEqual(['a-dir', 'a-file', 'bad.json', 'good.json']);
    expect(existsSync(join(root, '.rpg'))).toBe(false);
  });
});
