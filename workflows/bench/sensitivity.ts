/**
 * pnpm bench:sensitivity [--store <dir>] [--rows a,b,… (in that order)] [--list]
 * Trains one generator per row — token size, d, sequence model, position embedding and steps varied on three
 * targets of different shapes (a shallow MLP, a deep MLP, the CNN) — and prints generated avg / originals avg /
 * final loss / verdict per row; the last line is one JSON object. The store (default `.rpg/sensitivity`) is kept,
 * so the harvested checkpoints (and the tokens of one token size) are shared by every row of a target and by the
 * next run.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { numClassesOf } from '@rpg/checkpoint-harvest';
import { loadBackend } from '@rpg/core';
import { type Report, withVerdict } from '@rpg/evaluator';
import { type PipelineConfig, parsePipelineConfig, readJsonConfig } from '../src/pipeline-config.js';
import { runPipelineLocal } from '../src/run-local.js';

const { values } = parseArgs({
  options: { store: { type: 'string' }, rows: { type: 'string' }, list: { type: 'boolean' } },
});
const cwd = process.env.INIT_CWD ?? process.cwd();
const root = resolve(import.meta.dirname, '../..');

type Model = 'mamba2' | 'transformer' | 'lstm' | 'none';
type Position = '2d' | '1d' | 'learnable';
interface Row {
  id: string;
  target: 'mlp' | 'deep-mlp' | 'cnn';
  tokenSize: number;
  d: number;
  model: Model;
  position: Position;
  steps: number;
  /** The generator's learning rate when not the example's. */
  lr?: number;
}

const row = (
  id: string,
  target: Row['target'],
  tokenSize: number,
  d: number,
  steps: number,
  model: Model = 'mamba2',
  position: Position = 'learnable',
  lr?: number,
): Row => ({ id, target, tokenSize, d, model, position, steps, ...(lr ? { lr } : {}) });

// Short schedules (600 steps for the MLPs) keep each row affordable on 2 shared cores; every row is compared with
// the row that differs from it in one setting. mlp-256-128-300 gives every token as many denoising visits
// (steps × diffusion batch / tokens) as mlp-128-64 does in 600 steps, with twice as many tokens.
const ROWS: Row[] = [
  row('mlp-256-128', 'mlp', 256, 128, 600),
  row('mlp-128-64', 'mlp', 128, 64, 600),
  row('mlp-256-128-300', 'mlp', 256, 128, 300),
  row('mlp-128-128', 'mlp', 128, 128, 600),
  row('mlp-128-64-x2', 'mlp', 128, 64, 1200),
  row('mlp-128-64-tf2d', 'mlp', 128, 64, 600, 'transformer', '2d'),
  row('deep-256-128', 'deep-mlp', 256, 128, 600),
  row('deep-128-64', 'deep-mlp', 128, 64, 600),
  row('cnn-64-64', 'cnn', 64, 64, 1200),
  row('cnn-64-128', 'cnn', 64, 128, 1200),
  row('cnn-64-128-x2', 'cnn', 64, 128, 2400),
  row('cnn-64-128-x3', 'cnn', 64, 128, 3600),
  row('cnn-64-64-lr2', 'cnn', 64, 64, 1200, 'mamba2', 'learnable', 0.004),
  row('cnn-32-64', 'cnn', 32, 64, 1200),
];

if (values.list) {
  for (const r of ROWS) console.log(`${r.id}  ${JSON.stringify(r)}`);
  process.exit(0);
}
// --rows runs the named rows in the order given.
const rows = values.rows
  ? values.rows.split(',').map((id) => {
      const row = ROWS.find((r) => r.id === id);
      if (!row) throw new Error(`--rows: unknown row ${id} (--list shows them)`);
      return row;
    })
  : ROWS;

/** The example config of a target, with a deep MLP of about the shallow one's size built from the MLP example. */
async function baseConfig(target: Row['target']): Promise<Record<string, unknown>> {
  const file = target === 'cnn' ? 'examples/mnist-cnn.json' : 'examples/mnist-mlp.json';
  const raw = (await readJsonConfig(resolve(root, file))) as Record<string, unknown>;
  if (target !== 'deep-mlp') return raw;
  const harvest = raw.harvest as Record<string, unknown>;
  return { ...raw, harvest: { ...harvest, network: { type: 'mlp', sizes: [784, 48, 32, 32, 10] } } };
}

function rowConfig(base: Record<string, unknown>, row: Row): PipelineConfig {
  const train = base.train as Record<string, unknown>;
  const proto = train.prototype as Record<string, unknown>;
  return parsePipelineConfig(
    {
      ...base,
      name: `sens-${row.id}`,
      tokenizer: { ...(base.tokenizer as object), tokenSize: row.tokenSize },
      train: {
        ...train,
        prototype: { ...proto, model: row.model, position: row.position, d: row.d },
        steps: row.steps,
        ...(row.lr ? { lr: row.lr } : {}),
        checkpointEvery: 0,
      },
      // Fewer generated networks than the examples: the row's avg is what is compared.
      generate: { ...(base.generate as object), count: 6 },
      evaluate: { sigmas: [0.05], seed: 0 },
    },
    row.id,
  );
}

const r2 = (v: number) => Math.round(v * 100) / 100;
const backend = await loadBackend();
const storeDir = resolve(cwd, values.store ?? '.rpg/sensitivity');
const results: Record<string, unknown>[] = [];
const header =
  'row               target    token   d  model        pos        steps  gen avg  orig avg  loss    verdict';
console.log(header);
for (const row of rows) {
  const started = performance.now();
  const config = rowConfig(await baseConfig(row.target), row);
  const run = await runPipelineLocal(config, {
    storeDir,
    onStage: (stage, event, seconds) => {
      if (event === 'end') process.stderr.write(`${row.id}: ${stage} done in ${seconds!.toFixed(1)} s\n`);
    },
  });
  // A harvested pipeline: the built-in evaluator's report.
  const report = run.report as Report;
  const { stageSeconds } = run;
  const loss = report.trainingLoss ?? [];
  const tail = loss.slice(-Math.max(1, Math.ceil(loss.length / 20)));
  const finalLoss = tail.length ? tail.reduce((s, p) => s + p.loss, 0) / tail.length : null;
  const out = {
    ...row,
    generatedAvg: r2(report.generated.avg),
    generatedBest: r2(report.generated.best),
    originalsAvg: r2(report.originals.avg),
    finalLoss: finalLoss === null ? null : Math.round(finalLoss * 10000) / 10000,
    nonFinite: report.nonFinite?.length ?? 0,
    // Reports stored before the verdict existed are judged here by the same rule.
    verdict: report.verdict ?? withVerdict(report, numClassesOf(config.harvest.network)).verdict ?? null,
    trainSeconds: Math.round(stageSeconds.train ?? 0),
    seconds: Math.round((performance.now() - started) / 1000),
  };
  results.push(out);
  console.log(
    [
      row.id.padEnd(17),
      row.target.padEnd(9),
      String(row.tokenSize).padStart(5),
      String(row.d).padStart(4),
      ` ${row.model.padEnd(12)}`,
      row.position.padEnd(10),
      String(row.steps).padStart(5),
      out.generatedAvg.toFixed(2).padStart(8),
      out.originalsAvg.toFixed(2).padStart(9),
      (out.finalLoss ?? NaN).toFixed(4).padStart(7),
      ` ${out.verdict ?? '-'}`,
    ].join(' '),
  );
}
console.log(JSON.stringify({ bench: 'sensitivity', backend: backend.name, rows: results }));
