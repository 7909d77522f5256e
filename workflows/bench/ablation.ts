/**
 * pnpm bench:ablation [--config examples/mnist-mlp.json] [--store <dir>] [--steps N]
 * The recurrent-model and position-embedding ablations on one config: every variant trains its own generator
 * on the same harvested checkpoints (shared through the store) and is evaluated the same way. Prints a table;
 * the last line is one JSON object.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadBackend, terminalProgress } from '@rpg/core';
import { parseReport } from '@rpg/evaluator';
import { loadPipelineConfig, type PipelineConfig } from '../src/pipeline-config.js';
import { qualityFigures } from '../src/quality-figures.js';
import { runPipelineLocal } from '../src/run-local.js';

const { values } = parseArgs({
  options: {
    config: { type: 'string' },
    store: { type: 'string' },
    steps: { type: 'string' },
    only: { type: 'string' },
  },
});
const cwd = process.env.INIT_CWD ?? process.cwd();
const base = await loadPipelineConfig(resolve(cwd, values.config ?? 'examples/mnist-mlp.json'));
if (values.steps) base.train.steps = Number(values.steps);
const backend = await loadBackend();

type Model = PipelineConfig['train']['prototype']['model'];
type Position = PipelineConfig['train']['prototype']['position'];
type Variant = { name: string; model: Model; position: Position };
const baseModel = base.train.prototype.model;
const basePosition = base.train.prototype.position;
const allVariants: Variant[] = [
  ...(['mamba2', 'lstm', 'transformer', 'none'] as const).map((model) => ({
    name: `model=${model}`,
    model,
    position: basePosition,
  })),
  // The base config's own position embedding is already the model=<base> row.
  ...(['2d', '1d', 'learnable'] as const)
    .filter((position) => position !== basePosition)
    .map((position) => ({ name: `position=${position}`, model: baseModel, position })),
  // Without a recurrent model, a learnable embedding still gives every token its own free vector to memorize;
  // a fixed sinusoid does not. This row separates the two.
  ...(basePosition === '2d'
    ? []
    : [{ name: 'model=none position=2d', model: 'none' as const, position: '2d' as const }]),
];
const wanted = values.only?.split(',').map((n) => n.trim());
const unknown = wanted?.filter((n) => !allVariants.some((v) => v.name === n)) ?? [];
if (unknown.length > 0) {
  console.error(
    `--only: no variant named ${unknown.join(', ')}; the variants are ${allVariants.map((v) => v.name).join(', ')}`,
  );
  process.exit(2);
}
const variants = allVariants.filter((v) => !wanted || wanted.includes(v.name));
const storeDir = values.store ? resolve(cwd, values.store) : await mkdtemp(join(tmpdir(), 'rpg-ablation-'));

const rows: Record<string, unknown>[] = [];
let originals: ReturnType<typeof qualityFigures>['originals'] | undefined;
try {
  for (const v of variants) {
    const config = structuredClone(base);
    config.train.prototype.model = v.model;
    config.train.prototype.position = v.position;
    process.stderr.write(`\n== ${v.name}\n`);
    const result = await runPipelineLocal(config, { storeDir, progress: terminalProgress() });
    const q = qualityFigures(parseReport(result.report));
    // Every variant is scored against the same harvested checkpoints.
    originals ??= q.originals;
    rows.push({
      variant: v.name,
      ...q.generated,
      maxIou: q.iou.generatedMaxToOriginal,
      trainSeconds: Math.round(result.stageSeconds.train ?? 0),
    });
    const o = q.originals;
    process.stderr.write(
      `originals ${o.max}/${o.avg}/${o.min}  generated ${q.generated.best}/${q.generated.avg}/${q.generated.min}\n`,
    );
  }
  const o = originals!;
  console.log(`\noriginals max/avg/min ${o.max} / ${o.avg} / ${o.min}`);
  console.log('variant              best    avg     min     maxIoU  train s');
  for (const r of rows) {
    console.log(
      `${String(r.variant).padEnd(20)} ${String(r.best).padEnd(7)} ${String(r.avg).padEnd(7)} ${String(r.min).padEnd(7)} ${String(r.maxIou).padEnd(7)} ${r.trainSeconds}`,
    );
  }
  console.log(
    JSON.stringify({
      config: base.name,
      backend: backend.name,
      steps: base.train.steps,
      originals: o,
      variants: rows,
    }),
  );
} finally {
  if (!values.store) await rm(storeDir, { recursive: true, force: true });
}
