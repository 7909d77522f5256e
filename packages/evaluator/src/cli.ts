import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { parseArgs } from 'node:util';
import type { NetworkSpec } from '@rpg/checkpoint-harvest';
import { loadBackend, readJsonFile, terminalProgress } from '@rpg/core';
import { intFlag, parseFlags, parseToolCommand, rejectFlags, runCli, UsageError } from '@rpg/core/cli-kit';
import { z } from 'zod';
import { DEFAULT_NOISE_SIGMAS } from './noise-baseline.js';
import { renderReportHtml } from './report-html.js';
import { parseReport } from './report-schema.js';

const HELP = `rpg-evaluator: evaluate generated networks against their training checkpoints (RPG evaluation)

Models are read from checkpoints directories (checkpoints.json + safetensors files: what harvest and generate
write), from directories of *.safetensors (natural name order) or from single .safetensors files.

From the repository root, run it as "pnpm exec rpg-evaluator ...".

Usage:
  rpg-evaluator report <report.json> --html <out.html> [--png <out.png>]
      Re-renders a report.json (written by "evaluate" or the pipeline) as one self-contained HTML page;
      --png also screenshots it with headless Chromium ($RPG_CHROMIUM, else chromium / chromium-browser /
      google-chrome on PATH; bash infra/scripts/setup-chromium.sh installs it).

  rpg-evaluator accuracy [--network <preset | spec.json>] <checkpoints dir | file | dir>...
      Prints the MNIST test accuracy of each model (beside the accuracy its checkpoints.json records, if any)
      and their max / avg / min.

  rpg-evaluator evaluate [--network <preset | spec.json>] --originals <dir | files> --generated <dir | files>
                         --out <dir> [--sigmas 0.01,0.03,0.05] [--noise-per-sigma <n>] [--seed <s>] [--title <t>]
      The full evaluation on the MNIST test split: accuracy best / avg / min beside the originals' max / avg /
      min, IoU of misclassified test samples (original-original, generated-generated, generated max-to-original),
      noise baselines (originals + N(0, sigma^2) in per-tensor normalized space), L2 to the nearest original.
      Writes <dir>/report.json and <dir>/report.html. --originals and --generated may be repeated.

Options shared by accuracy and evaluate:
  --network <n>        a preset (mlp, cnn-s, cnn-m) or a JSON file with a network spec; default: the network
                       the checkpoints directories record (required for plain safetensors files)
  --test-size <n>      MNIST test split size (default: the one the checkpoints directory records, else 2000)
  --data-seed <s>      seed of the MNIST train/test split (default: the recorded one, else 0)

  rpg-evaluator --help
`;

const options = {
  html: { type: 'string' },
  png: { type: 'string' },
  network: { type: 'string' },
  originals: { type: 'string', multiple: true },
  generated: { type: 'string', multiple: true },
  out: { type: 'string' },
  sigmas: { type: 'string' },
  'noise-per-sigma': { type: 'string' },
  seed: { type: 'string' },
  title: { type: 'string' },
  'test-size': { type: 'string' },
  'data-seed': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>['values'];

/** Seeds are unsigned 32-bit integers; MNIST here has 10,000 digits (restated: this file loads neither package). */
const MAX_SEED = 2 ** 32 - 1;
const MAX_TEST_SIZE = 9999;

const intArg = (flag: string, min: number, max: number) => intFlag(flag.slice(2), min, max).optional();

const sigmasArg = z
  .string()
  .optional()
  .transform((text, ctx) => {
    if (text === undefined) return [...DEFAULT_NOISE_SIGMAS];
    if (text.trim() === '') return [];
    const values = text.split(',').map((s) => (s.trim() === '' ? Number.NaN : Number(s)));
    if (values.length > 20 || values.some((v) => !Number.isFinite(v) || v < 0 || v > 10)) {
      ctx.addIssue({
        code: 'custom',
        message: `--sigmas must be at most 20 comma-separated numbers in 0…10, got "${text.slice(0, 100)}"`,
      });
      return z.NEVER;
    }
    return values;
  });

async function main(argv: string[]): Promise<void> {
  const parsed = parseToolCommand(argv, options, HELP);
  if (!parsed) return;
  const { values, command, rest } = parsed;
  if (command === 'report') return runReport(values, rest);
  if (command === 'accuracy') return runAccuracy(values, rest);
  if (command === 'evaluate') return runEvaluate(values, rest);
  throw new UsageError(`unknown command "${command ?? ''}"; use "report", "accuracy" or "evaluate"`);
}

async function runReport(values: Values, positionals: string[]): Promise<void> {
  rejectFlags(
    values,
    [
      'network',
      'originals',
      'generated',
      'out',
      'sigmas',
      'noise-per-sigma',
      'seed',
      'title',
      'test-size',
      'data-seed',
    ],
    'report',
  );
  if (positionals.length !== 1)
    throw new UsageError(`report needs exactly one report.json, got ${positionals.length}`);
  if (!values.html) throw new UsageError('report needs --html <out.html>');
  const path = positionals[0]!;
  // Reports of many models reach a few MB; far larger is not a report.
  const raw = await readJsonFile(path, { what: 'report', maxBytes: 256 * 1024 * 1024 });
  const report = parseReport(raw);
  await writeFile(values.html, renderReportHtml(report));
  process.stdout.write(`wrote ${values.html}\n`);
  if (values.png) {
    const { renderToPng } = await import('./render-check.js');
    const { bytes } = await renderToPng(values.html, values.png);
    process.stdout.write(`wrote ${values.png} (${bytes} bytes)\n`);
  }
}

type Sources = { sources: import('./collection.js').CollectionSource[] };

/**
 * The tfjs side (backend, MNIST, the network), loaded only by the commands that run networks. The network and
 * the MNIST split default to what the collections' checkpoints.json files record.
 */
async function networkContext(values: Values, collections: Sources[]) {
  const harvest = await import('@rpg/checkpoint-harvest');
  const { resolveNetwork, mnistSplitOf } = await import('./collection.js');
  const testSize = parseFlags(intArg('--test-size', 1, MAX_TEST_SIZE), values['test-size']);
  const dataSeed = parseFlags(intArg('--data-seed', 0, MAX_SEED), values['data-seed']);
  const given = values.network ? await harvest.networkFromFlag(values.network) : undefined;
  let spec: NetworkSpec;
  try {
    spec = resolveNetwork(given, collections);
  } catch (err) {
    throw new UsageError(
      `${(err as Error).message} (--network: ${Object.keys(harvest.NETWORK_PRESETS).join(', ')} or a spec.json)`,
    );
  }
  const recorded = collections.flatMap((c) => c.sources.map((s) => s.meta.dataset)).find((d) => d);
  const split = recorded ? mnistSplitOf(recorded) : null;
  if (recorded && !split && (testSize === undefined || dataSeed === undefined)) {
    process.stderr.write(`note: the models record data set ${recorded}; evaluating on MNIST\n`);
  }
  await loadBackend();
  // The pooled variants (14×14, 7×7) are told apart by the network's input size when nothing records them.
  const dataset = harvest.loadMnist({
    testSize: testSize ?? split?.testSize ?? 2000,
    seed: dataSeed ?? split?.seed ?? 0,
    pool: split?.pool ?? harvest.mnistPoolFor(harvest.inputSize(spec)) ?? 1,
  });
  return { harvest, spec, dataset };
}

async function runAccuracy(values: Values, inputs: string[]): Promise<void> {
  rejectFlags(
    values,
    ['html', 'png', 'originals', 'generated', 'out', 'sigmas', 'noise-per-sigma', 'seed', 'title'],
    'accuracy',
  );
  if (inputs.length === 0) {
    throw new UsageError(
      'accuracy needs a checkpoints directory, checkpoint files or a directory of .safetensors',
    );
  }
  const { readCollectionSources, readModelCollection } = await import('./collection.js');
  const { spec, dataset } = await networkContext(values, [{ sources: await readCollectionSources(inputs) }]);
  const collection = await readModelCollection(inputs);
  const { predictModels, assertFitsNetwork } = await import('./predict-batch.js');
  const { accuracyStats, accuracyFromMisses, misclassified } = await import('./metrics.js');
  const { nonFiniteModels, describeNonFinite } = await import('./finite.js');
  collection.stateDicts.forEach((sd, i) => {
    assertFitsNetwork(spec, sd, collection.files[i]!);
  });
  // A model with NaN/Inf parameters is reported as such: its NaN logits would score as one class.
  const broken = new Map(nonFiniteModels(collection.stateDicts).map((m) => [m.index, m]));
  const scored = collection.stateDicts.filter((_, i) => !broken.has(i));
  const preds = scored.length > 0 ? predictModels(spec, scored, dataset.test) : [];
  const scoredAccs = preds.map((p) => accuracyFromMisses(misclassified(p, dataset.test.y), dataset.test.n));
  const names = collection.files.map((f) => basename(f));
  const width = Math.max(...names.map((n) => n.length));
  const accs: number[] = [];
  names.forEach((name, i) => {
    const bad = broken.get(i);
    if (bad) {
      process.stdout.write(`${name.padEnd(width)}  NON-FINITE: ${describeNonFinite(bad)}; not scored\n`);
      return;
    }
    const acc = scoredAccs[accs.length]!;
    accs.push(acc);
    const recorded = collection.recordedAccuracy[i];
    const note = recorded === null || recorded === undefined ? '' : `  (recorded ${recorded.toFixed(2)}%)`;
    process.stdout.write(`${name.padEnd(width)}  ${acc.toFixed(2)}%${note}\n`);
  });
  if (accs.length > 0) {
    const s = accuracyStats(accs);
    process.stdout.write(
      `${accs.length} checkpoint(s) on ${dataset.name} (${dataset.test.n} test samples): ` +
        `max ${s.max.toFixed(2)} / avg ${s.avg.toFixed(2)} / min ${s.min.toFixed(2)}\n`,
    );
  }
  if (broken.size > 0) {
    process.stderr.write(
      `rpg-evaluator: ${broken.size} of ${names.length} models have non-finite parameters (NaN or Inf) and were not scored\n`,
    );
    process.exitCode = 1;
  }
}

async function runEvaluate(values: Values, positionals: string[]): Promise<void> {
  rejectFlags(values, ['html', 'png'], 'evaluate');
  if (positionals.length > 0)
    throw new UsageError(`evaluate takes no positional arguments (got ${positionals.join(' ')})`);
  if (!values.originals?.length) throw new UsageError('evaluate needs --originals <dir | files>');
  if (!values.generated?.length) throw new UsageError('evaluate needs --generated <dir | files>');
  if (!values.out) throw new UsageError('evaluate needs --out <dir> for report.json and report.html');
  const noiseSigmas = parseFlags(sigmasArg, values.sigmas);
  const noisePerSigma = parseFlags(intArg('--noise-per-sigma', 1, 10_000), values['noise-per-sigma']);
  const seed = parseFlags(intArg('--seed', 0, MAX_SEED), values.seed) ?? 0;
  if (values.title !== undefined && values.title.length > 200)
    throw new UsageError(`--title must be at most 200 characters, got ${values.title.length}`);
  // The metadata only (cheap): settle the network and the data split before any model is read.
  const { readCollectionSources } = await import('./collection.js');
  const { spec, dataset } = await networkContext(values, [
    { sources: await readCollectionSources(values.originals) },
    { sources: await readCollectionSources(values.generated) },
  ]);
  const { evaluateCollections } = await import('./evaluate-collections.js');
  const report = await evaluateCollections({
    originalsDir: values.originals,
    generatedDir: values.generated,
    outDir: values.out,
    dataset,
    network: spec,
    sigmas: noiseSigmas,
    ...(noisePerSigma === undefined ? {} : { noisePerSigma }),
    seed,
    ...(values.title === undefined ? {} : { title: values.title }),
    progress: terminalProgress(),
  });
  const g = report.generated;
  const o = report.originals;
  process.stdout.write(
    `${[
      `originals max / avg / min: ${o.max.toFixed(2)} / ${o.avg.toFixed(2)} / ${o.min.toFixed(2)}`,
      `generated best / avg / min: ${g.best.toFixed(2)} / ${g.avg.toFixed(2)} / ${g.min.toFixed(2)}`,
      `mean max-IoU to an original: ${report.iou.generatedMaxToOriginal.toFixed(3)}`,
      ...report.noise.map(
        (n) =>
          `  noise σ=${n.sigma}: avg ${n.accuracy.avg.toFixed(2)}, max-IoU ${n.maxIouToOriginal.toFixed(3)}`,
      ),
      ...(report.suspicious
        ? [
            `SUSPICIOUS: generated best beats the originals' max by more than ${report.suspiciousMargin} pt; check the test split`,
          ]
        : []),
      ...(report.notes ?? []).map((n) => `note: ${n}`),
      `wrote ${values.out}/report.json and ${values.out}/report.html`,
    ].join('\n')}\n`,
  );
}

await runCli('rpg-evaluator', () => main(process.argv.slice(2)));
