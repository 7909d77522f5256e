/**
 * What the in-process experiment benchmarks share: `--config` (resolved from where the user ran pnpm), `--store`
 * (default: a fresh temporary store, so stage times are real, removed after unless `--keep`), the backend, stage
 * lines on stderr and the total time.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadBackend, terminalProgress } from '@rpg/core';
import type { LocalRunOptions } from '../src/local-executor.js';

export interface BenchOutcome<C, R> {
  config: C;
  result: R;
  /** The tfjs backend it ran on. */
  backend: string;
  totalSeconds: number;
  /** Whether the store (and the report in it) stays after the run. */
  kept: boolean;
}

export async function runBench<C, R>(bench: {
  defaultConfig: string;
  load: (path: string) => Promise<C>;
  storePrefix: string;
  run: (config: C, options: LocalRunOptions) => Promise<R>;
  print: (outcome: BenchOutcome<C, R>) => void;
}): Promise<void> {
  const { values } = parseArgs({
    options: { config: { type: 'string' }, store: { type: 'string' }, keep: { type: 'boolean' } },
  });
  const cwd = process.env.INIT_CWD ?? process.cwd();
  const config = await bench.load(resolve(cwd, values.config ?? bench.defaultConfig));
  const backend = await loadBackend();
  const storeDir = values.store
    ? resolve(cwd, values.store)
    : await mkdtemp(join(tmpdir(), bench.storePrefix));
  const kept = Boolean(values.store || values.keep);
  const started = performance.now();
  try {
    const result = await bench.run(config, {
      storeDir,
      progress: terminalProgress(),
      onStage: (stage, event, seconds) => {
        if (event === 'end') process.stderr.write(`${stage} done in ${seconds!.toFixed(1)} s\n`);
      },
    });
    const totalSeconds = (performance.now() - started) / 1000;
    bench.print({ config, result, backend: backend.name, totalSeconds, kept });
  } finally {
    if (!kept) await rm(storeDir, { recursive: true, force: true });
  }
}
