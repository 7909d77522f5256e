// Training-step benchmark against PyTorch: one generator training step at the MNIST MLP example's sizes (201
// tokens of 256, d 128, 2 layers, learnable positions, decoder 1-16-32-64-32-16-1 kernel 7, batch 8 over 2
// permutation states, diffusion batch 256, v-prediction, AdamW, weight EMA) for each sequence model, ours
// (`trainGenerator`) beside the same step in PyTorch (bench/step_torch.py). The two alternate, round after
// round, each run in its own process, so a busy moment of a shared machine hits both alike; medians of all timed
// steps, the ratio ours/PyTorch per model, and numpy's matmul as the machine's limit (sampled between rounds).
// Mamba2 has no PyTorch CPU kernel: it is compared with the PyTorch Transformer. Last line: one JSON object.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadBackend, numpyMatmulGflops, Rng } from '@rpg/core';
import { choiceFlag, intFlag, listFlag, parseFlagsOrExit } from '@rpg/core/cli-kit';
import { type PrototypeConfig, syntheticPositions } from '@rpg/recurrent-prototype';
import { z } from 'zod';
import { disposeGenerator, trainGenerator } from '../src/index.js';
import { MODELS, type Model, projectPython, repoRoot, TORCH_MODEL } from './torch-reference.js';

const HELP = `pnpm bench:step [--models lstm,transformer,mamba2,none] [--rounds 3] [--steps 12] [--no-install]
  Times one generator training step at the MNIST MLP example's sizes, ours beside the same step in PyTorch
  (bench/step_torch.py), alternating the two --rounds times per model, each run in its own process; prints
  median ms/step, the ratio ours/PyTorch, and numpy's matmul GFLOP/s (this machine's limit). Mamba2 is
  compared with the PyTorch Transformer (PyTorch has no Mamba2 CPU kernel). The last line is one JSON object.
  PyTorch is installed into infra/.cache/venv by infra/scripts/setup-torch.sh when it is missing (once, ~5 GB
  from PyPI); --no-install refuses that and stops instead.
  --models      comma-separated subset of ${MODELS.join(',')} (default: all)
  --rounds      ours/PyTorch alternations per model (default 3)
  --steps       timed steps per run, after one warm-up step (default 12: our first few steps after the warm-up
                are still slower, while PyTorch's are not, and training runs hundreds of steps)
  --no-install  do not install PyTorch when it is missing
  --torch-device  cpu (default) or cuda: where the PyTorch step runs (ours follows RPG_BACKEND)`;

const { values: args } = parseArgs({
  options: {
    models: { type: 'string', default: MODELS.join(',') },
    rounds: { type: 'string', default: '3' },
    steps: { type: 'string', default: '12' },
    'no-install': { type: 'boolean', default: false },
    'torch-device': { type: 'string', default: 'cpu' },
    child: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  console.log(HELP);
  process.exit(0);
}

function fail(message: string): never {
  console.error(message);
  process.exit(1);
}
const {
  models,
  rounds,
  steps: timedSteps,
  'torch-device': torchDevice,
} = parseFlagsOrExit(
  z.object({
    models: listFlag(choiceFlag('models', MODELS)),
    rounds: intFlag('rounds', 1),
    steps: intFlag('steps', 1),
    'torch-device': choiceFlag('torch-device', ['cpu', 'cuda']),
  }),
  args,
);

// The example's sizes (examples/mnist-mlp.json: MLP 784-64-10 in tokens of 256 = 201 tokens, 2 runs × 25).
const SIZES = {
  tokens: 201,
  tokenSize: 256,
  checkpoints: 50,
  states: 2,
  d: 128,
  layers: 2,
  channels: [1, 16, 32, 64, 32, 16, 1],
  kernel: 7,
  batch: 8,
  diffusion: 256,
  lr: 0.002,
  ema: 0.995,
} as const;

const python = projectPython;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const round3 = (x: number) => Number(x.toPrecision(3));

/** Our step, in this (child) process: step times after the warm-up step, which also builds the models. */
async function oursChild(model: Model): Promise<number[]> {
  await loadBackend({ log: null });
  const { tokens: L, tokenSize: k, checkpoints } = SIZES;
  const values = new Rng(0).normalArray(checkpoints * L * k, 0, 0.05);
  // Padding in the last token, as a tokenizer leaves it.
  for (let c = 0; c < checkpoints; c++)
    values.fill(Number.NaN, ((c + 1) * L - 1) * k + k / 2, (c + 1) * L * k);
  const prototype: PrototypeConfig = { model, d: SIZES.d, layers: SIZES.layers, position: 'learnable' };
  const marks: number[] = [];
  const gen = await trainGenerator({
    tokens: values,
    numCheckpoints: checkpoints,
    positions: syntheticPositions(L, 196),
    stateOf: Array.from({ length: checkpoints }, (_, i) => i % SIZES.states),
    prototype,
    decoder: { tokenSize: k, channels: [...SIZES.channels], kernel: SIZES.kernel, prediction: 'v' },
    steps: 1 + timedSteps,
    lr: SIZES.lr,
    batchSize: SIZES.batch,
    diffusionBatch: SIZES.diffusion,
    emaDecay: SIZES.ema,
    seed: 0,
    progress: () => marks.push(performance.now()),
  });
  disposeGenerator(gen);
  return marks.slice(1).map((t, i) => t - marks[i]!);
}

function lastJson(stdout: string | null): { stepMs: number[] } | null {
  const last = (stdout ?? '').trim().split('\n').pop() ?? '';
  return last.startsWith('{') ? (JSON.parse(last) as { stepMs: number[] }) : null;
}

function runOurs(model: Model): number[] {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', import.meta.filename, '--child', model, '--steps', String(timedSteps)],
    { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 },
  );
  const out = lastJson(r.stdout);
  if (r.status !== 0 || !out)
    fail(`ours (${model}) failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return out.stepMs;
}

function runTorch(model: Model): number[] {
  const r = spawnSync(
    python,
    [
      join(import.meta.dirname, 'step_torch.py'),
      ...['--model', TORCH_MODEL[model], '--steps', String(timedSteps), '--warmup', '1'],
      ...['--tokens', String(SIZES.tokens), '--token-size', String(SIZES.tokenSize)],
      ...['--checkpoints', String(SIZES.checkpoints), '--states', String(SIZES.states)],
      ...['--d', String(SIZES.d), '--layers', String(SIZES.layers), '--channels', SIZES.channels.join(',')],
      ...['--kernel', String(SIZES.kernel), '--batch', String(SIZES.batch)],
      ...['--diffusion', String(SIZES.diffusion), '--lr', String(SIZES.lr), '--ema', String(SIZES.ema)],
      ...['--device', torchDevice],
    ],
    { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 },
  );
  const out = lastJson(r.stdout);
  if (r.status !== 0 || !out)
    fail(`PyTorch (${model}) failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return out.stepMs;
}

/** Makes sure PyTorch is importable in the project's Python environment, installing it unless --no-install. */
function ensureTorch(): void {
  if (!existsSync(python)) fail(`${python} is missing: run \`bash infra/setup.sh\` first`);
  const probe = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (probe.status === 0) {
    console.log(`PyTorch ${probe.stdout.trim()} (${python})`);
    return;
  }
  if (args['no-install']) {
    fail('PyTorch is not installed in infra/.cache/venv and --no-install was given: run `pnpm setup:torch`');
  }
  console.log(
    'PyTorch is missing: running infra/scripts/setup-torch.sh, which pip-installs torch into infra/.cache/venv ' +
      '(about 5 GB from PyPI, once; --no-install refuses this)',
  );
  const r = spawnSync('bash', [join(repoRoot, 'infra', 'scripts', 'setup-torch.sh')], { stdio: 'inherit' });
  if (r.status !== 0) fail('installing PyTorch failed (see above)');
}

async function main(): Promise<void> {
  if (args.child) {
    console.log(JSON.stringify({ stepMs: await oursChild(args.child as Model) }));
    return;
  }
  ensureTorch();
  const loadBefore = loadavg()[0]!;
  const limits: number[] = [];
  const sampleLimit = () => {
    const g = numpyMatmulGflops();
    if (g !== null) limits.push(g);
  };
  const rows: Record<string, { oursMs: number; torchMs: number; ratio: number; against: string }> = {};
  for (const model of models) {
    const ours: number[] = [];
    const torch: number[] = [];
    for (let r = 0; r < rounds; r++) {
      sampleLimit();
      ours.push(...runOurs(model));
      torch.push(...runTorch(model));
    }
    const oursMs = median(ours);
    const torchMs = median(torch);
    rows[model] = {
      oursMs: round3(oursMs),
      torchMs: round3(torchMs),
      ratio: round3(oursMs / torchMs),
      against: `torch ${TORCH_MODEL[model]}`,
    };
    console.log(
      `${model.padEnd(12)} ours ${oursMs.toFixed(0).padStart(5)} ms  PyTorch (${TORCH_MODEL[model]}) ` +
        `${torchMs.toFixed(0).padStart(5)} ms  ratio ${(oursMs / torchMs).toFixed(2)}  ` +
        `[ours ${ours.map((x) => x.toFixed(0)).join(' ')}] [torch ${torch.map((x) => x.toFixed(0)).join(' ')}]`,
    );
  }
  sampleLimit();
  const limit = limits.length ? median(limits) : null;
  if (limit !== null) {
    const spread = (Math.max(...limits) - Math.min(...limits)) / limit;
    console.log(
      `numpy matmul ${limit.toFixed(0)} GFLOP/s median of ${limits.length} (min ${Math.min(...limits).toFixed(0)}, ` +
        `max ${Math.max(...limits).toFixed(0)})` +
        (spread > 0.3
          ? `: spread ${(100 * spread).toFixed(0)} %, the machine was busy; figures are noisy`
          : ''),
    );
  } else console.log('numpy is not available: no machine limit');
  // Other processes on the machine: PyTorch's thread pool suffers more than ours when the cores are shared,
  // so a loaded machine flatters the ratios.
  const loadAfter = loadavg()[0]!;
  const cores = availableParallelism();
  if (Math.max(loadBefore, loadAfter) > cores) {
    console.log(
      `warning: load average ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after on ${cores} cores: ` +
        'other processes shared the CPUs, so the times and ratios are not this machine’s; rerun when it is idle',
    );
  }
  console.log(
    JSON.stringify({
      models: rows,
      limitGflops: limit === null ? null : round3(limit),
      limitSamples: limits.map(round3),
      loadAverage: [round3(loadBefore), round3(loadAfter)],
      cores,
      rounds,
      timedSteps,
      torchDevice,
      sizes: SIZES,
    }),
  );
}

await main();
