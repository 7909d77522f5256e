/**
 * pnpm bench:quality --config examples/mnist-mlp.json [--store <dir>] [--keep]
 * Runs the whole pipeline in-process (a fresh store unless --store is given, so stage times are real) and prints
 * the figures; the last line is one JSON object.
 */
import { countParameters } from '@rpg/checkpoint-harvest';
import { parseReport } from '@rpg/evaluator';
import { loadPipelineConfig } from '../src/pipeline-config.js';
import { qualityFigures } from '../src/quality-figures.js';
import { runPipelineLocal } from '../src/run-local.js';
import { summarizeReport } from '../src/summary.js';
import { runBench } from './bench-run.js';

await runBench({
  defaultConfig: 'examples/mnist-mlp.json',
  load: loadPipelineConfig,
  storePrefix: 'rpg-quality-',
  run: runPipelineLocal,
  print: ({ config, result, backend, totalSeconds }) => {
    console.log(summarizeReport(result.report));
    console.log(`report: ${result.reportDir}/report.html`);
    console.log(
      JSON.stringify({
        config: config.name,
        backend,
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
  },
});
