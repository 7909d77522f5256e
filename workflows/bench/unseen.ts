/**
 * pnpm bench:unseen [--config examples/mnist-unseen.json] [--store <dir>] [--keep]
 * Runs the unseen-task experiment in-process (a fresh store unless --store is given, so stage times are real) and
 * prints the per-split figures; the last line is one JSON object with the targets checked.
 */
import { runUnseenLocal } from '../src/run-unseen-local.js';
import { loadUnseenConfig } from '../src/unseen-config.js';
import { summarizeTaskReport, unseenFigures } from '../src/unseen-figures.js';
import { runBench } from './bench-run.js';

await runBench({
  defaultConfig: 'examples/mnist-unseen.json',
  load: loadUnseenConfig,
  storePrefix: 'rpg-unseen-',
  run: runUnseenLocal,
  print: ({ config, result, backend, totalSeconds, kept }) => {
    console.log(summarizeTaskReport(result.report));
    console.log(
      `report: ${result.reportDir}/report.html${kept ? '' : ' (removed with the store; --keep keeps it)'}`,
    );
    console.log(
      JSON.stringify({
        config: config.name,
        backend,
        ...unseenFigures(result.report),
        stageSeconds: Object.fromEntries(
          Object.entries(result.stageSeconds).map(([k, v]) => [k, Math.round(v * 10) / 10]),
        ),
        totalSeconds: Math.round(totalSeconds),
      }),
    );
  },
});
