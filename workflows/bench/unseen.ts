/**
 * pnpm bench:unseen [--config examples/mnist-unseen.json] [--store <dir>] [--keep]
 * Runs the unseen-task experiment in-process (a fresh store unless --store is given, so stage times are real) and
 * prints the per-split figures; the last line is one JSON object with the targets checked.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadBackend, terminalProgress } from '@rpg/core';
import { runUnseenLocal } from '../src/run-unseen-local.js';
import { loadUnseenConfig } from '../src/unseen-config.js';
import { summarizeTaskReport, unseenFigures } from '../src/unseen-figures.js';

const { values } = parseArgs({
  options: { config: { type: 'string' }, store: { type: 'string' }, keep: { type: 'boolean' } },
});
const cwd = process.env.INIT_CWD ?? process.cwd();
const config = await loadUnseenConfig(resolve(cwd, values.config ?? 'examples/mnist-unseen.json'));
const backend = await loadBackend();
const storeDir = values.store ? resolve(cwd, values.store) : await mkdtemp(join(tmpdir(), 'rpg-unseen-'));
const started = performance.now();
try {
  const result = await runUnseenLocal(config, {
    storeDir,
    progress: terminalProgress(),
    onStage: (stage, event, seconds) => {
      if (event === 'end') process.stderr.write(`${stage} done in ${seconds!.toFixed(1)} s\n`);
    },
  });
  const totalSeconds = (performance.now() - started) / 1000;
  console.log(summarizeTaskReport(result.report));
  console.log(
    `report: ${result.reportDir}/report.html${values.store || values.keep ? '' : ' (removed with the store; --keep keeps it)'}`,
  );
  console.log(
    JSON.stringify({
      config: config.name,
      backend: backend.name,
      ...unseenFigures(result.report),
      stageSeconds: Object.fromEntries(
        Object.entries(result.stageSeconds).map(([k, v]) => [k, Math.round(v * 10) / 10]),
      ),
      totalSeconds: Math.round(totalSeconds),
    }),
  );
} finally {
  if (!values.store && !values.keep) await rm(storeDir, { recursive: true, force: true });
}
