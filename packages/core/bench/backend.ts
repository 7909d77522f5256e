// Backend benchmark: for each tfjs backend that loads, a 1024² matmul, one training step of the RPG decoder
// shape, and one small-MLP training step; beside them numpy's fp32 matmul as this machine's practical limit,
// measured several times interleaved with the backends (one busy moment would otherwise make the ratios
// meaningless): min/median/max, ratios against the median, and a warning when the spread says the machine was
// busy. Each backend runs in its own child process (a tfjs process keeps the backends it loaded).
// Last line: one JSON object with all figures and the ratios to the numpy median.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { BACKEND_ORDER, type BackendChoice, loadBackend } from '../src/backend.js';
import { numpyMatmulGflops } from '../src/machine-limit.js';
import { tf } from '../src/tf.js';

/** A figure is null where the backend cannot run that workload; `unsupported` says why. */
interface BackendFigures {
  backend: BackendChoice;
  matmulGflops: number | null;
  decoderStepGflops: number | null;
  decoderTokens: number;
  decoderStepMs: number | null;
  mlpStepMs: number | null;
  unsupported: string[];
}

const HELP = `pnpm bench:backend [--quick] [--backends node,wasm,cpu]
  Measures each tfjs backend: 1024² matmul GFLOP/s, one RPG decoder-shape training step, one small-MLP step,
  and numpy's matmul as the machine's limit (measured before each backend and again after the last, at least
  --limit-runs times in all; ratios use the median). The last line is one JSON object.
  --quick       fewer repetitions
  --backends    comma-separated subset of node-gpu,node,wasm,cpu (default: all)
  --limit-runs  numpy measurements in all (default 5, --quick 3)`;
const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    backends: { type: 'string', default: BACKEND_ORDER.join(',') },
    'limit-runs': { type: 'string' },
    child: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  console.log(HELP);
  process.exit(0);
}
const quick = args.quick;
const backends = args.backends.split(',').map((b) => {
  if (!(BACKEND_ORDER as readonly string[]).includes(b)) {
    console.error(`--backends: '${b}' is not a backend; use some of ${BACKEND_ORDER.join(', ')}`);
    process.exit(1);
  }
  return b as BackendChoice;
});

const limitRuns = Number(args['limit-runs'] ?? (quick ? 3 : 5));
if (!Number.isInteger(limitRuns) || limitRuns < 1) {
  console.error(`--limit-runs: '${args['limit-runs']}' is not a positive integer`);
  process.exit(1);
}
/** (max − min) / median of the numpy figures above which the machine was likely busy during the run. */
const BUSY_SPREAD = 0.3;

/** Median wall time in ms of `fn` after `warmup` untimed calls; stops early once `budgetMs` is spent. */
async function timeIt(fn: () => Promise<void>, reps: number, warmup = 1, budgetMs = 20_000): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  const start = performance.now();
  for (let i = 0; i < reps && (times.length < 2 || performance.now() - start < budgetMs); i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

async function matmulGflops(): Promise<number> {
  const n = 1024;
  const a = tf.randomNormal([n, n], 0, 1, 'float32', 1);
  const b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
  const ms = await timeIt(async () => {
    const c = tf.matMul(a, b);
    await c.data();
    c.dispose();
  }, 10);
  return (2 * n ** 3) / (ms * 1e6);
}

/** The RPG diffusion-decoder shape: six conv1d layers, kernel 7, same padding, 1→32→64→128→64→32→1, ELU. */
async function decoderStep(
  tokens: number,
  reps: number,
  warmup: number,
): Promise<{ gflops: number; ms: number }> {
  const length = 256;
  const channels = [1, 32, 64, 128, 64, 32, 1];
  const kernels = channels.slice(1).map((out, i) => {
    const inC = channels[i]!;
    return tf.variable(tf.randomNormal([7, inC, out], 0, Math.sqrt(2 / (7 * inC)), 'float32', 10 + i));
  });
  const x = tf.randomNormal([tokens, length, 1], 0, 1, 'float32', 3);
  const target = tf.randomNormal([tokens, length, 1], 0, 1, 'float32', 4);
  const optimizer = tf.train.adam(1e-3);
  const step = async () => {
    const loss = optimizer.minimize(
      () => {
        let h: tf.Tensor3D = x as tf.Tensor3D;
        kernels.forEach((k, i) => {
          h = tf.conv1d(h, k as tf.Tensor3D, 1, 'same');
          if (i < kernels.length - 1) h = tf.elu(h);
        });
        return tf.losses.meanSquaredError(target, h) as tf.Scalar;
      },
      true,
      kernels,
    );
    await loss!.data();
    loss!.dispose();
  };
  const ms = await timeIt(step, reps, warmup);
  // Forward FLOPs of the convolutions; backward costs twice that (input and weight gradients).
  const macs = channels.slice(1).reduce((s, out, i) => s + channels[i]! * out * 7 * length * tokens, 0);
  return { gflops: (3 * 2 * macs) / (ms * 1e6), ms };
}

async function mlpStepMs(): Promise<number> {
  const w1 = tf.variable(tf.randomNormal([512, 1024], 0, 0.04, 'float32', 5));
  const b1 = tf.variable(tf.zeros([1024]));
  const w2 = tf.variable(tf.randomNormal([1024, 512], 0, 0.03, 'float32', 6));
  const b2 = tf.variable(tf.zeros([512]));
  const x = tf.randomNormal([64, 512], 0, 1, 'float32', 7);
  const y = tf.randomNormal([64, 512], 0, 1, 'float32', 8);
  const optimizer = tf.train.adam(1e-3);
  return timeIt(
    async () => {
      const loss = optimizer.minimize(
        () => tf.losses.meanSquaredError(y, tf.relu(x.matMul(w1).add(b1)).matMul(w2).add(b2)) as tf.Scalar,
        true,
      );
      await loss!.data();
      loss!.dispose();
    },
    quick ? 10 : 50,
    3,
  );
}

async function measureOne(choice: BackendChoice): Promise<BackendFigures> {
  const { native } = await loadBackend({ backend: choice });
  const unsupported: string[] = [];
  const attempt = async <T>(what: string, fn: () => Promise<T>): Promise<T | null> => {
    try {
      return await fn();
    } catch (err) {
      unsupported.push(`${what}: ${(err as Error).message.split('\n')[0]}`);
      return null;
    }
  };
  // The pure-JS backends are 100x slower or worse: one token and no warm-up keep their decoder step short.
  const decoderTokens = native ? 256 : 1;
  const decoder = await attempt('decoder step', () =>
    decoderStep(decoderTokens, native ? 5 : 2, native ? 1 : 0),
  );
  return {
    backend: choice,
    matmulGflops: await attempt('matmul', matmulGflops),
    decoderStepGflops: decoder?.gflops ?? null,
    decoderTokens,
    decoderStepMs: decoder?.ms ?? null,
    mlpStepMs: await attempt('mlp step', mlpStepMs),
    unsupported,
  };
}

interface LimitFigures {
  samples: number[];
  min: number;
  median: number;
  max: number;
  /** (max − min) / median. */
  spread: number;
  busy: boolean;
}

function summarizeLimit(samples: number[]): LimitFigures | null {
  if (samples.length === 0) return null;
  const s = [...samples].sort((a, b) => a - b);
  const median = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  const spread = (s[s.length - 1]! - s[0]!) / median;
  return { samples, min: s[0]!, median, max: s[s.length - 1]!, spread, busy: spread > BUSY_SPREAD };
}

/** Rounds to `digits` significant digits; keeps nulls. */
function round(x: number | null, digits = 3): number | null {
  return x === null ? null : Number(x.toPrecision(digits));
}

const show = (x: number | null, unit: string) => (x === null ? 'n/a' : `${x.toPrecision(3)} ${unit}`);
const ratio = (x: number | null, limit: number | null) =>
  x === null || limit === null ? null : round(x / limit);

async function main(): Promise<void> {
  if (args.child) {
    const figures = await measureOne(args.child as BackendChoice);
    console.log(JSON.stringify(figures));
    return;
  }
  const samples: number[] = [];
  let numpyMissing = false;
  const sampleLimit = () => {
    if (numpyMissing) return;
    const g = numpyMatmulGflops();
    if (g === null) {
      numpyMissing = true;
      console.error('numpy is not available (run `bash infra/setup.sh`); ratios are left out');
    } else samples.push(g);
  };
  const results: BackendFigures[] = [];
  for (const choice of backends) {
    sampleLimit();
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', import.meta.filename, '--child', choice, ...(quick ? ['--quick'] : [])],
      {
        encoding: 'utf8',
      },
    );
    const last = r.stdout.trim().split('\n').pop() ?? '';
    if (r.status !== 0 || !last.startsWith('{')) {
      console.log(
        `${choice.padEnd(8)} not available: ${(
          r.stderr
            .trim()
            .split('\n')
            .find((l) => /Error/.test(l)) ??
            r.stderr.trim().split('\n').pop() ??
            ''
        ).slice(0, 160)}`,
      );
      continue;
    }
    const f = JSON.parse(last) as BackendFigures;
    results.push(f);
    console.log(
      `${choice.padEnd(8)} matmul ${show(f.matmulGflops, 'GFLOP/s')} | decoder step (${f.decoderTokens} tokens) ` +
        `${show(f.decoderStepGflops, 'GFLOP/s')}, ${show(f.decoderStepMs, 'ms')} | MLP step ${show(f.mlpStepMs, 'ms')}` +
        (f.unsupported.length ? ` | unsupported: ${f.unsupported.join('; ')}` : ''),
    );
  }
  while (!numpyMissing && samples.length < limitRuns) sampleLimit();
  const lim = summarizeLimit(samples);
  const limit = lim?.median ?? null;
  if (lim) {
    console.log(
      `numpy    matmul ${lim.median.toFixed(1)} GFLOP/s median of ${samples.length} (min ${lim.min.toFixed(1)}, ` +
        `max ${lim.max.toFixed(1)}; this machine's practical limit; ratios use the median)`,
    );
    if (lim.busy) {
      console.log(
        `warning: the numpy figures spread ${(100 * lim.spread).toFixed(0)} % (over ${100 * BUSY_SPREAD} %): the ` +
          'machine was likely busy during this run, so the figures and ratios are uncertain; rerun when it is idle',
      );
    }
  }
  const summary = {
    bench: 'backend',
    numpyMatmulGflops: round(limit),
    numpyMatmul: lim && {
      runs: samples.length,
      min: round(lim.min),
      median: round(lim.median),
      max: round(lim.max),
      spread: round(lim.spread, 2),
      busy: lim.busy,
      samples: samples.map((x) => round(x)),
    },
    backends: Object.fromEntries(
      results.map((f) => [
        f.backend,
        {
          matmulGflops: round(f.matmulGflops),
          decoderStepGflops: round(f.decoderStepGflops),
          decoderTokens: f.decoderTokens,
          decoderStepMs: round(f.decoderStepMs),
          mlpStepMs: round(f.mlpStepMs),
          matmulRatio: ratio(f.matmulGflops, limit),
          decoderStepRatio: ratio(f.decoderStepGflops, limit),
          unsupported: f.unsupported,
        },
      ]),
    ),
  };
  console.log(JSON.stringify(summary));
}

await main();
