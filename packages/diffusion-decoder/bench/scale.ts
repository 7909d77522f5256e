// Scale benchmark: synthetic checkpoints of ViT-like layouts (seeded; written to a temporary directory and removed
// after) at several sizes; for each, the real CLIs run as child processes under /usr/bin/time: tokenize, a few
// training steps, and generating one model with DDIM. Prints peak RSS and seconds per stage, generated parameters
// per second and the generation's achieved GFLOP/s (decoder FLOPs / seconds) beside numpy's fp32 matmul measured
// in the same run (interleaved with the sizes). Last line: one JSON object with the figures and the targets.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { numpyMatmulGflops, Rng, type StateDict, writeSafetensorsFile } from '@rpg/core';
import { intFlag, listFlag, parseFlagsOrExit } from '@rpg/core/cli-kit';
import { z } from 'zod';

const HELP = `pnpm bench:scale [options]
  Tokenize, train (a few steps) and generate (one model) on synthetic ViT-like checkpoints, measuring each
  stage's peak RSS and time from its own process. The last line is one JSON object.
  --sizes <list>      params:checkpoints pairs (default 10M:10,50M:10,100M:10,10M:50)
  --token-size <n>    tokens of n values (default 4096)
  --channels <list>   decoder channels (default 1,8,16,8,1: sized for a CPU; the paper's is 1,32,64,128,64,32,1)
  --train-steps <n>   training steps timed (default 20)
  --diffusion-batch <n>  token rows per training step (default 256)
  --ddim <n>          DDIM steps of the generated model (default 60)
  --dir <dir>         where the synthetic data goes (default: a new temporary directory, removed after)`;

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10M:10,50M:10,100M:10,10M:50' },
    'token-size': { type: 'string', default: '4096' },
    channels: { type: 'string', default: '1,8,16,8,1' },
    'train-steps': { type: 'string', default: '20' },
    'diffusion-batch': { type: 'string', default: '256' },
    ddim: { type: 'string', default: '60' },
    dir: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  console.log(HELP);
  process.exit(0);
}
const {
  'token-size': tokenSize,
  'train-steps': trainSteps,
  'diffusion-batch': diffusionBatch,
  ddim,
  channels,
} = parseFlagsOrExit(
  z.object({
    'token-size': intFlag('token-size', 1),
    'train-steps': intFlag('train-steps', 1),
    'diffusion-batch': intFlag('diffusion-batch', 1),
    ddim: intFlag('ddim', 1),
    channels: listFlag(intFlag('channels', 1)),
  }),
  args,
);
const sizes = args.sizes.split(',').map((pair) => {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?):(\d+)$/.exec(pair.trim());
  if (!m) {
    console.error(`--sizes: "${pair}" is not params:checkpoints, e.g. 10M:10`);
    process.exit(1);
  }
  const scale = { k: 1e3, K: 1e3, m: 1e6, M: 1e6, '': 1 }[m[2]!]!;
  return { target: Number(m[1]) * scale, checkpoints: Number(m[3]) };
});
if (!existsSync('/usr/bin/time')) {
  console.error('this benchmark measures peak RSS with /usr/bin/time (Debian: apt-get install time)');
  process.exit(1);
}

const repoRoot = join(import.meta.dirname, '..', '..', '..');
const WIDTH = 768;
const D = 128;

/** ViT-like tensors (width 768, MLP 3072, patch 16, 1000 classes) with about `target` parameters. */
function vitLikeShapes(target: number): [string, number[]][] {
  const w = WIDTH;
  const perBlock = 2 * w + (3 * w * w + 3 * w) + (w * w + w) + 2 * w + (4 * w * w + 4 * w) + (4 * w * w + w);
  const outside = w * 3 * 16 * 16 + w + 1000 * w + 1000;
  const blocks = Math.max(1, Math.round((target - outside) / perBlock));
  const shapes: [string, number[]][] = [
    ['patch_embed.proj.weight', [w, 3, 16, 16]],
    ['patch_embed.proj.bias', [w]],
  ];
  for (let b = 0; b < blocks; b++) {
    const p = `blocks.${b}`;
    shapes.push(
      [`${p}.norm1.weight`, [w]],
      [`${p}.norm1.bias`, [w]],
      [`${p}.attn.qkv.weight`, [3 * w, w]],
      [`${p}.attn.qkv.bias`, [3 * w]],
      [`${p}.attn.proj.weight`, [w, w]],
      [`${p}.attn.proj.bias`, [w]],
      [`${p}.norm2.weight`, [w]],
      [`${p}.norm2.bias`, [w]],
      [`${p}.mlp.fc1.weight`, [4 * w, w]],
      [`${p}.mlp.fc1.bias`, [4 * w]],
      [`${p}.mlp.fc2.weight`, [w, 4 * w]],
      [`${p}.mlp.fc2.bias`, [w]],
    );
  }
  shapes.push(['head.weight', [1000, w]], ['head.bias', [1000]]);
  return shapes;
}

/** Writes `count` checkpoints (2 runs) of one layout: a seeded base per tensor plus small per-checkpoint noise. */
async function writeCheckpoints(dir: string, shapes: [string, number[]][], count: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  const rng = new Rng(2501);
  const base = shapes.map(([, shape]) =>
    rng.uniformArray(
      shape.reduce((a, b) => a * b, 1),
      -0.05,
      0.05,
    ),
  );
  for (let c = 0; c < count; c++) {
    const noise = rng.fork(`checkpoint ${c}`);
    const sd: StateDict = new Map();
    shapes.forEach(([name, shape], i) => {
      const data = noise.uniformArray(base[i]!.length, -0.002, 0.002);
      for (let j = 0; j < data.length; j++) data[j]! += base[i]![j]!;
      sd.set(name, { dtype: 'F32', shape, data });
    });
    const run = c % 2;
    const file = `run${String(run).padStart(2, '0')}-ckpt${String(Math.floor(c / 2)).padStart(3, '0')}.safetensors`;
    await writeSafetensorsFile(join(dir, file), sd);
  }
}

interface StageFigures {
  peakRssMB: number;
  seconds: number;
}

interface SizeFigures {
  params: number;
  checkpoints: number;
  numTokens: number;
  tokenize: StageFigures;
  train: StageFigures & { loopSeconds: number; steps: number };
  generate: StageFigures & { loopSeconds: number; paramsPerSecond: number; gflops: number };
}

/** Runs a package CLI under /usr/bin/time; returns its peak RSS, wall seconds and stdout. */
function timed(pkg: string, argv: string[]): StageFigures & { stdout: string } {
  const bin = join(repoRoot, 'packages', pkg, 'bin', 'cli.mjs');
  const r = spawnSync('/usr/bin/time', ['-f', 'RPG_TIME %M %e', process.execPath, bin, ...argv], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const line = /RPG_TIME (\d+) ([\d.]+)/.exec(r.stderr ?? '');
  if (r.status !== 0 || !line) {
    console.error(r.stderr?.split('\n').slice(-15).join('\n'));
    throw new Error(`${pkg} ${argv[0]} failed (exit ${r.status})`);
  }
  return { peakRssMB: Number(line[1]) / 1024, seconds: Number(line[2]), stdout: r.stdout };
}

/** numpy's fp32 1024² matmul, median of 20 — this machine's practical limit, measured now. */
function numpyGflops(): number {
  const gflops = numpyMatmulGflops();
  if (gflops === null) throw new Error('numpy is not available (run `bash infra/setup.sh`)');
  return gflops;
}

/**
 * Multiply-adds ×2 of generating one model: every conv at every DDIM step, the step MLP (hidden width h) once per
 * step (its outputs are shared by the chunks), and the condition projections once per token.
 */
function generationFlops(numTokens: number, h: number): number {
  const kernel = 7;
  let conv = 0;
  for (let i = 0; i + 1 < channels.length; i++)
    conv += 2 * tokenSize * kernel * channels[i]! * channels[i + 1]!;
  const groups = channels.length - 1;
  const timeMlp = 2 * (256 * groups * h + groups * h * tokenSize);
  const condition = 2 * D * groups * tokenSize;
  return numTokens * ddim * conv + ddim * timeMlp + numTokens * condition;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const r3 = (x: number) => Number(x.toPrecision(3));

const root = args.dir ?? (await mkdtemp(join(tmpdir(), 'rpg-scale-')));
const limits: number[] = [numpyGflops()];
const results: SizeFigures[] = [];
try {
  for (const size of sizes) {
    const shapes = vitLikeShapes(size.target);
    const params = shapes.reduce((s, [, shape]) => s + shape.reduce((a, b) => a * b, 1), 0);
    const label = `${(params / 1e6).toFixed(1)} M params × ${size.checkpoints} checkpoints`;
    const dir = join(root, `${params}-${size.checkpoints}`);
    console.log(`\n== ${label}: writing synthetic checkpoints`);
    await writeCheckpoints(join(dir, 'ckpts'), shapes, size.checkpoints);

    const tokenize = timed('tokenizer', [
      'tokenize',
      join(dir, 'ckpts'),
      '--token-size',
      String(tokenSize),
      '--out',
      join(dir, 'tokens'),
    ]);
    const state = JSON.parse(await readFile(join(dir, 'tokens', 'tokenizer.json'), 'utf8')) as {
      numTokens: number;
    };
    console.log(
      `tokenize: L = ${state.numTokens} tokens, ${tokenize.seconds} s, peak RSS ${tokenize.peakRssMB.toFixed(0)} MB`,
    );

    const train = timed('diffusion-decoder', [
      'train',
      '--tokens',
      join(dir, 'tokens'),
      '--out',
      join(dir, 'generator'),
      '--model',
      'mamba2',
      '--d',
      String(D),
      '--position',
      'learnable',
      '--states',
      'run',
      '--channels',
      channels.join(','),
      '--steps',
      String(trainSteps),
      '--diffusion-batch',
      String(diffusionBatch),
    ]);
    const trainLoop = Number(/in ([\d.]+) s; loss/.exec(train.stdout)?.[1] ?? Number.NaN);
    console.log(
      `train: ${trainSteps} steps in ${trainLoop} s (${train.seconds} s with start-up), peak RSS ${train.peakRssMB.toFixed(0)} MB`,
    );

    limits.push(numpyGflops());
    const gen = timed('diffusion-decoder', [
      'generate',
      '--generator',
      join(dir, 'generator'),
      '--tokens',
      join(dir, 'tokens'),
      '--out',
      join(dir, 'generated'),
      '--count',
      '1',
      '--steps',
      String(ddim),
    ]);
    const genSeconds = Number(/\) in ([\d.]+) s/.exec(gen.stdout)?.[1] ?? Number.NaN);
    const generator = JSON.parse(await readFile(join(dir, 'generator', 'generator.json'), 'utf8')) as {
      config: { decoder: { stepHidden?: number } };
    };
    const h = generator.config.decoder.stepHidden ?? tokenSize;
    const gflops = generationFlops(state.numTokens, h) / genSeconds / 1e9;
    console.log(
      `generate: 1 model, DDIM ${ddim}, in ${genSeconds} s (${gen.seconds} s with start-up), ` +
        `${r3(params / genSeconds)} params/s, ${gflops.toFixed(1)} GFLOP/s, peak RSS ${gen.peakRssMB.toFixed(0)} MB`,
    );
    limits.push(numpyGflops());
    results.push({
      params,
      checkpoints: size.checkpoints,
      numTokens: state.numTokens,
      tokenize: { peakRssMB: r3(tokenize.peakRssMB), seconds: tokenize.seconds },
      train: {
        peakRssMB: r3(train.peakRssMB),
        seconds: train.seconds,
        loopSeconds: trainLoop,
        steps: trainSteps,
      },
      generate: {
        peakRssMB: r3(gen.peakRssMB),
        seconds: gen.seconds,
        loopSeconds: genSeconds,
        paramsPerSecond: r3(params / genSeconds),
        gflops: r3(gflops),
      },
    });
    await rm(dir, { recursive: true, force: true });
  }
} finally {
  if (!args.dir) await rm(root, { recursive: true, force: true });
}

const limit = median(limits);
const stages = ['tokenize', 'train', 'generate'] as const;
const peak = (r: SizeFigures) => Math.max(...stages.map((s) => r[s].peakRssMB));
const byParams = (p: number, c: number) =>
  results.find((r) => Math.abs(r.params - p) / p < 0.3 && r.checkpoints === c);
const ten10 = byParams(10e6, 10);
const ten50 = byParams(10e6, 50);
const largest = results.reduce((a, b) => (b.params > a.params ? b : a), results[0]!);
const flat = ten10 && ten50 ? stages.every((s) => ten50[s].peakRssMB <= 1.15 * ten10[s].peakRssMB) : null;
const big = results.filter((r) => r.params >= 40e6);
const targets = {
  rssFlatInCheckpoints: flat,
  rssUnder3GiBAtLargest: largest ? peak(largest) <= 3 * 1024 : null,
  generationAtHalfLimit: big.length > 0 ? big.every((r) => r.generate.gflops >= 0.5 * limit) : null,
};
console.log(
  `\nnumpy limit ${limit.toFixed(1)} GFLOP/s (median of ${limits.length}: ${limits.map((l) => l.toFixed(0)).join(', ')})`,
);
console.log(
  JSON.stringify({
    tokenSize,
    channels,
    ddim,
    sizes: results,
    generationGflops: Object.fromEntries(
      results.map((r) => [`${r.params}x${r.checkpoints}`, r.generate.gflops]),
    ),
    limitGflops: r3(limit),
    limitRuns: limits.map(r3),
    targets,
  }),
);
