/**
 * pnpm bench:quality --config examples/mnist-mlp.json [--store <dir>]
 * Runs the whole pipeline in-process (a fresh store unless --store is given, so stage times are real) and prints
 * the figures; the last line is one JSON object.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { countParameters } from '@rpg/checkpoint-harvest';
import { loadBackend, terminalProgress } from '@rpg/core';
import { parseReport } from '@rpg/evaluator';
import { loadPipelineConfig } from '../src/pipeline-config.js';
import { qualityFigures } from '../src/quality-figures.js';
import { runPipelineLocal } from '../src/run-local.js';
import { summarizeReport } from '../src/summary.js';

const { values } = parseArgs({
  options: { config: { type: 'string' }, store: { type: 'string' }, keep: { type: 'boolean' } },
});
const cwd = process.env.INIT_CWD ?? process.cwd();
const configPath = resolve(cwd, values.config ?? 'examples/mnist-mlp.json');
const config = await loadPipelineConfig(configPath);
const backend = await loadBackend();
const storeDir = values.store ? resolve(cwd, values.store) : await mkdtemp(join(tmpdir(), 'rpg-quality-'));
const started = performance.now();
try {
  const result = await runPipelineLocal(config, {
    storeDir,
    progress: terminalProgress(),
    onStage: (stage, event, seconds) => {
      if (event === 'end') process.stderr.write(`${stage} done in ${seconds!.toFixed(1)} s\n`);
    },
  });
  const totalSeconds = (performance.now() - started) / 1000;
  console.log(summarizeReport(result.report));
  console.log(`report: ${result.reportDir}/report.html`);
  console.log(
    JSON.stringify({
      config: config.name,
      backend: backend.name,
      /** The target network's trainable parameters (PyTorch's `sum(p.numel() for p in model.parameters())`). */
      params: countParameters(config.harvest.network),
      ...qualityFigures(parseReport(result.report)),
      /** The scale for `nearestL2`: mean L2 from each original to its nearest other original. */
      originalSpacingL2: result.report.originalSpacing
        ? Math.round(result.report.originalSpacing.avg * 10000) / 10000
        : null,
      stageSeconds: result.stageSeconds,
      totalSeconds,
    }),
  );
} finally {
  if (!values.store && !values.keep) await rm(storeDir, { recursive: true, force: true });
}
