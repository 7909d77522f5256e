// Where a training step's time goes, at the MNIST MLP example's sizes: per part (the batch's token rows and
// noise in JavaScript, the prototype forward and forward + backward, the decoder forward and forward + backward,
// the AdamW update, the weight EMA), median ms of several runs of each part alone, and the kernels one whole
// step runs (tf.profile: count and ms per kernel name). Last line: one JSON object.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadBackend, medianMs, Rng, tf } from '@rpg/core';
import { benchFlags } from '@rpg/core/cli-kit';
import { PrototypeModel, syntheticPositions } from '@rpg/recurrent-prototype';
import { WeightEma } from '../src/ema.js';
import { FlatLayout } from '../src/flat-variables.js';
import { diffusionLoss } from '../src/loss.js';
import { AdamW } from '../src/optimizer.js';
import { linearSchedule } from '../src/schedule.js';
import { TokenDecoder } from '../src/token-decoder.js';
import { type Model, projectPython, TORCH_MODEL } from './torch-reference.js';

const HELP = `tsx bench/step-profile.ts [--model mamba2] [--reps 5] [--top 0] [--torch]
  Times each part of one generator training step at the MNIST MLP example's sizes and counts the kernels of
  one whole step (tf.profile); --top N also lists that step's N slowest kernels with their shapes; --torch
  also times PyTorch's parts (bench/step_torch.py --parts, with the PyTorch that bench:step installs; Mamba2
  against the PyTorch Transformer). The last line is one JSON object.`;
const args = benchFlags(
  {
    model: { type: 'string', default: 'mamba2' },
    reps: { type: 'string', default: '5' },
    top: { type: 'string', default: '0' },
    torch: { type: 'boolean', default: false },
  },
  HELP,
);
const model = args.model as Model;
const torchModel = TORCH_MODEL[model];
const reps = Number(args.reps);
const topKernels = Number(args.top);

await loadBackend({ log: null });
const L = 201;
const k = 256;
const d = 128;
const D = 256;
const rng = new Rng(0);
const prototype = new PrototypeModel(
  { model, d, layers: 2, position: 'learnable' },
  syntheticPositions(L, 196),
  2,
  rng.fork('p'),
);
const decoder = new TokenDecoder(
  { tokenSize: k, d, channels: [1, 16, 32, 64, 32, 16, 1], kernel: 7, prediction: 'v' },
  rng.fork('d'),
);
const variables = [...prototype.trainableVariables(), ...decoder.trainableVariables()];
const layout = new FlatLayout(variables);
const optimizer = new AdamW(variables, { layout });
const ema = new WeightEma(variables, 0.995, layout);
const schedule = linearSchedule();
const table = rng.normalArray(50 * L * k, 0, 0.05);

const time = (fn: () => void) => medianMs(fn, reps);

const x0 = new Float32Array(D * k);
const mask = new Float32Array(D * k);
const rows = new Int32Array(D);
const tSteps: number[] = [];
let noiseValues: Float32Array = new Float32Array(D * k);
const drawBatch = () => {
  const pairs = rng.sample(8 * L, D);
  for (let p = 0; p < D; p++) {
    const pair = pairs[p]!;
    const b = Math.floor(pair / L);
    const pos = pair - b * L;
    rows[p] = (b % 2) * L + pos;
    x0.set(table.subarray((b * L + pos) * k, (b * L + pos + 1) * k), p * k);
    for (let j = p * k; j < (p + 1) * k; j++) {
      const nan = Number.isNaN(x0[j]!);
      if (nan) x0[j] = 0;
      mask[j] = nan ? 0 : 1;
    }
    tSteps[p] = rng.int(1000);
  }
  noiseValues = rng.normalArray(D * k);
};

const lossFn = () => {
  const protos = prototype.forward([0, 1]);
  const proto = tf.gather(tf.reshape(protos, [2 * L, d]), tf.tensor1d(rows, 'int32')) as tf.Tensor2D;
  return diffusionLoss(decoder, {
    x0: tf.tensor2d(x0, [D, k]),
    mask: tf.tensor2d(mask, [D, k]),
    t: tSteps,
    noise: tf.tensor2d(noiseValues, [D, k]),
    proto,
    training: true,
    schedule,
  });
};
const fixedProto = tf.keep(tf.randomNormal([D, d]));
const decoderLoss = () =>
  diffusionLoss(decoder, {
    x0: tf.tensor2d(x0, [D, k]),
    mask: tf.tensor2d(mask, [D, k]),
    t: tSteps,
    noise: tf.tensor2d(noiseValues, [D, k]),
    proto: fixedProto as tf.Tensor2D,
    training: true,
    schedule,
  });
const sync = (t: tf.Tensor) => t.dataSync();
drawBatch();
const parts = {
  batchInJs: time(drawBatch),
  prototypeForward: time(() => tf.tidy(() => sync(prototype.forward([0, 1])))),
  prototypeForwardBackward: time(() =>
    tf.tidy(() => {
      const { grads } = tf.variableGrads(
        () => tf.sum(prototype.forward([0, 1])),
        prototype.trainableVariables(),
      );
      tf.stack(Object.values(grads).map((g) => tf.sum(g))).dataSync();
    }),
  ),
  decoderForward: time(() => tf.tidy(() => sync(decoderLoss()))),
  decoderForwardBackward: time(() =>
    tf.tidy(() => {
      const { grads } = tf.variableGrads(decoderLoss, decoder.trainableVariables());
      tf.stack(Object.values(grads).map((g) => tf.sum(g))).dataSync();
    }),
  ),
  optimizer: 0,
  ema: time(() => {
    ema.update();
    variables[0]!.dataSync();
  }),
  wholeStep: 0,
};
const zeroGrads = Object.fromEntries(variables.map((v) => [v.name, tf.keep(tf.zerosLike(v))]));
parts.optimizer = time(() => {
  optimizer.apply(zeroGrads, 1e-3);
  variables[0]!.dataSync();
});
const step = () =>
  tf.tidy(() => {
    drawBatch();
    const { value, grads } = tf.variableGrads(lossFn, variables);
    optimizer.apply(grads, 1e-3);
    value.dataSync();
  });
parts.wholeStep = time(() => {
  step();
  ema.update();
});
const profile = await tf.profile(() => {
  step();
  ema.update();
});
const kernels: Record<string, number> = {};
const kernelMs: Record<string, number> = {};
for (const kr of profile.kernels) {
  kernels[kr.name] = (kernels[kr.name] ?? 0) + 1;
  kernelMs[kr.name] = (kernelMs[kr.name] ?? 0) + Number(kr.kernelTimeMs);
}
const top = Object.entries(kernels).sort((a, b) => b[1] - a[1]);
const slowest = Object.entries(kernelMs)
  .sort((a, b) => b[1] - a[1])
  .map(([n, ms]) => [n, Number(ms.toFixed(1))] as const);
for (const [name, ms] of Object.entries(parts))
  console.log(`${name.padEnd(26)} ${ms.toFixed(1).padStart(8)} ms`);
console.log(`kernels per step: ${profile.kernels.length}; ${top.map(([n, c]) => `${n} ${c}`).join(', ')}`);
const shapes = (list: unknown[]) => list.map((s) => `[${s}]`).join(' ');
for (const kr of [...profile.kernels]
  .sort((a, b) => Number(b.kernelTimeMs) - Number(a.kernelTimeMs))
  .slice(0, topKernels))
  console.log(
    `  ${Number(kr.kernelTimeMs).toFixed(2).padStart(6)} ms ${kr.name} ${shapes(kr.inputShapes)} → ${shapes(kr.outputShapes)}`,
  );
console.log(`kernel ms per step (tf.profile): ${slowest.map(([n, ms]) => `${n} ${ms}`).join(', ')}`);
const torchParts = args.torch ? torchPartsMs() : undefined;
if (torchParts) {
  const list = Object.entries(torchParts).map(([n, ms]) => `${n} ${ms}`);
  console.log(`PyTorch (${torchModel}) ms: ${list.join(', ')}`);
}
console.log(
  JSON.stringify({
    model,
    partsMs: Object.fromEntries(Object.entries(parts).map(([n, v]) => [n, Number(v.toFixed(1))])),
    kernels: profile.kernels.length,
    byKernel: Object.fromEntries(top),
    byKernelMs: Object.fromEntries(slowest),
    ...(torchParts ? { torchPartsMs: torchParts } : {}),
  }),
);

/** PyTorch's parts of the same step (bench/step_torch.py --parts), from the project's Python environment. */
function torchPartsMs(): Record<string, number> {
  const python = projectPython;
  if (!existsSync(python)) {
    console.error(
      '--torch: no Python environment with PyTorch; run `pnpm setup:torch` (or `pnpm bench:step`) first',
    );
    process.exit(1);
  }
  const script = join(import.meta.dirname, 'step_torch.py');
  const r = spawnSync(python, [script, '--model', torchModel, '--parts', '--steps', String(reps * 3)], {
    encoding: 'utf8',
  });
  const last = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !last.startsWith('{')) {
    console.error(
      `--torch: bench/step_torch.py failed (exit ${r.status}): ${(r.stderr ?? '').trim().slice(-400)}`,
    );
    process.exit(1);
  }
  return (JSON.parse(last) as { partsMs: Record<string, number> }).partsMs;
}
