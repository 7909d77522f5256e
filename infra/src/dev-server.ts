import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { Connection } from '@temporalio/client';
import { ensureTemporalCli } from './temporal-cli.js';

export interface DevServerOptions {
  /** SQLite file that keeps workflow histories across restarts. Default `.rpg/temporal.db`. */
  dbFile?: string;
  /** gRPC port (default 7233); 0 picks a free one. */
  port?: number;
  /** Web UI port (default 8233); 0 picks a free one. */
  uiPort?: number;
  /** Start without the Web UI. */
  headless?: boolean;
  /** Milliseconds to wait for the server to answer health checks. */
  startTimeoutMs?: number;
  /**
   * Run the server in its own process group, so a Ctrl-C in the terminal reaches only the parent, which can then
   * shut its workers down while the server still answers, and stop the server last.
   */
  ownProcessGroup?: boolean;
  log?: (line: string) => void;
}

export interface DevServer {
  /** host:port for clients and workers. */
  address: string;
  /** Web UI address, or undefined when headless. */
  uiUrl: string | undefined;
  dbFile: string;
  cliPath: string;
  /** Process id of `temporal server start-dev`. */
  pid: number | undefined;
  /**
   * Resolves when the server process exits on its own (not through `stop()`), with what it said last: a command
   * that serves it must then stop and say so.
   */
  exited: Promise<string>;
  /** Stops the server (SIGTERM, then SIGKILL after 10 s) and waits for it to exit. */
  stop(): Promise<void>;
}

/** A port the OS reports free right now. */
export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

async function portInUse(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(true));
    srv.listen(port, '127.0.0.1', () => srv.close(() => res(false)));
  });
}

/** Resolves once the frontend answers a health check, rejects if the process exits or time runs out. */
async function waitHealthy(
  address: string,
  child: ChildProcess,
  stderrTail: () => string,
  timeoutMs: number,
) {
  const deadline = Date.now() + timeoutMs;
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = `exited (${signal ?? code})`;
  });
  while (Date.now() < deadline) {
    if (exited) throw new Error(`temporal server start-dev ${exited}: ${stderrTail()}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        const health = await connection.healthService.check({});
        if (health.status === 1 /* SERVING */) return;
      } finally {
        await connection.close();
      }
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  child.kill('SIGKILL');
  throw new Error(`temporal server start-dev did not become healthy within ${timeoutMs} ms: ${stderrTail()}`);
}

/** Starts `temporal server start-dev` with a SQLite file, waits until it is healthy. */
export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const cliPath = ensureTemporalCli(options.log);
  const dbFile = resolve(options.dbFile ?? '.rpg/temporal.db');
  mkdirSync(dirname(dbFile), { recursive: true });
  const port = options.port === 0 ? await freePort() : (options.port ?? 7233);
  const uiPort = options.uiPort === 0 ? await freePort() : (options.uiPort ?? 8233);
  const ports = [{ what: 'gRPC', port }, ...(options.headless ? [] : [{ what: 'Web UI', port: uiPort }])];
  for (const p of ports) {
    if (await portInUse(p.port)) {
      throw new Error(
        `Port ${p.port} (${p.what}) is already in use: a Temporal server may already run there. Use it with ` +
          `TEMPORAL_ADDRESS=127.0.0.1:${port}, or stop it, or choose other ports.`,
      );
    }
  }
  const args = ['server', 'start-dev', '--db-filename', dbFile, '--ip', '127.0.0.1', '--port', String(port)];
  args.push('--log-level', 'error', ...(options.headless ? ['--headless'] : ['--ui-port', String(uiPort)]));
  const child = spawn(cliPath, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: options.ownProcessGroup ?? false,
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const address = `127.0.0.1:${port}`;
  await waitHealthy(
    address,
    child,
    () => stderr.trim().split('\n').slice(-3).join(' | '),
    options.startTimeoutMs ?? 60_000,
  );
  const uiUrl = options.headless ? undefined : `http://127.0.0.1:${uiPort}`;
  options.log?.(
    `[rpg] Temporal dev server on ${address} (history in ${dbFile})${uiUrl ? `, Web UI ${uiUrl}` : ''}`,
  );
  const exitedPromise = new Promise<void>((res) => {
    if (child.exitCode !== null) res();
    else child.once('exit', () => res());
  });
  let stopping = false;
  const exited = new Promise<string>((res) => {
    child.once('exit', (code, signal) => {
      if (stopping) return; // stop() asked for it: nothing to report
      const tail = stderr.trim().split('\n').slice(-3).join(' | ');
      res(`exited with ${signal ? `signal ${signal}` : `code ${code}`}${tail ? `: ${tail}` : ''}`);
    });
  });
  return {
    address,
    uiUrl,
    dbFile,
    cliPath,
    pid: child.pid,
    exited,
    async stop() {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exitedPromise;
        clearTimeout(timer);
      }
    },
  };
}
