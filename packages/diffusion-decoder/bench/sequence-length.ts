// Sequence-length benchmark: one generator training step (the prototype model over the full sequence, then the
// decoder on the diffusion batch) for each sequence model at several token counts L, on seeded synthetic tokens.
// Each (model, L) runs in its own child process so that its peak RSS is its own. Per case: median ms/step after a
// warm-up step (and the fastest step: on a shared machine the least disturbed one), the peak RSS, and the scaling
// exponent between lengths (1 = linear in L, 2 = quadratic), from the medians and from the fastest steps.
// Last line: one JSON object.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { loadBackend, Rng, tf } from '@rpg/core';
import { choiceFlag, intFlag, listFlag, parseFlagsOrExit, positiveFlag } from '@rpg/core/cli-kit';
import { type PrototypeConfig, syntheticPositions } from '@rpg/recurrent-prototype';
import { z } from 'zod';
import { disposeGenerator, trainGenerator } from '../src/index.js';

const MODELS = ['mamba2', 'lstm', 'transformer', 'none'] as const;
type Model = (typeof MODELS)[number];

const HELP = `pnpm bench:sequence [--lengths 1024,4096,16384] [--models mamba2,lstm,transformer,none] [--steps 3]
  Times generator training steps (prototype model d 128, 2 layers, over all L tokens; decoder 1-16-32-16-1 on a
  diffusion batch of 256 tokens of 64 values; batch 8 over 2 permutation states) for each sequence model and
  token count, each case in its own process. The last line is one JSON object.
  --lengths       comma-separated token counts L (default 1024,4096,16384)
  --models        comma-separated subset of ${MODELS.join(',')} (default: all)
  --steps         timed steps per case, after one warm-up step (default 3)
  --attention-mb  the Transformer's attention memory cap in MiB (default: the model's own default)
  --recompute     the prototype model's backward pass: auto (default: recomputed when large) | on | off
  --timeout       seconds per case before it is stopped (default 900)`;

const { values: args } = parseArgs({
  options: {
    lengths: { type: 'string', default: '1024,4096,16384' },
    models: { type: 'string', default: MODELS.join(',') },
    steps: { type: 'string', default: '3' },
    'attention-mb': { type: 'string' },
    timeout: { type: 'string', default: '900' },
    recompute: { type: 'string', default: 'auto' },
    child: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  console.log(HELP);
  process.exit(0);
}

const {
  lengths,
  models,
  steps: timedSteps,
  timeout: timeoutS,
  'attention-mb': attentionMB,
  recompute,
} = parseFlagsOrExit(
  z.object({
    lengths: listFlag(intFlag('lengths', 1)),
    models: listFlag(choiceFlag('models', MODELS)),
    steps: intFlag('steps', 1),
    timeout: intFlag('timeout', 1),
    'attention-mb': positiveFlag('attention-mb').optional(),
    recompute: choiceFlag('recompute', ['auto', 'on', 'off']),
  }),
  args,
);

const TOKEN_SIZE = 64;
const CHECKPOINTS = 4;
const STATE_OF = [0, 0, 1, 1];

interface CaseResult {
  model: Model;
  L: number;
  /** Median ms per training step, or null when the case did not run. */
  msPerStep: number | null;
  minMs?: number;
  stepMs?: number[];
  peakRssMB?: number;
  /** RSS before training (backend and tokens loaded). */
  baseRssMB?: number;
  prototypeParameters?: number;
  error?: string;
}

const mb = (kb: number) => Math.round(kb / 1024);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function runCase(model: Model, L: number): Promise<CaseResult> {
  await loadBackend({ log: null });
  const rng = new Rng(1234);
  const tokens = rng.normalArray(CHECKPOINTS * L * TOKEN_SIZE, 0, 0.05);
  const positions = syntheticPositions(L, 256);
  const baseRssMB = mb(process.resourceUsage().maxRSS);
  const prototype: PrototypeConfig = {
    model,
    d: 128,
    layers: 2,
    position: '2d',
    ...(attentionMB !== undefined ? { attentionMemoryMB: attentionMB } : {}),
  };
  // One timestamp per finished step: differences after the first (warm-up, which also builds) are step times.
  const marks: number[] = [];
  try {
    const gen = await trainGenerator({
      tokens,
      numCheckpoints: CHECKPOINTS,
      positions,
      stateOf: STATE_OF,
      prototype,
      decoder: { tokenSize: TOKEN_SIZE, channels: [1, 16, 32, 16, 1], kernel: 7 },
      steps: 1 + timedSteps,
      lr: 1e-3,
      batchSize: 8,
      diffusionBatch: 256,
      seed: 0,
      progress: () => marks.push(performance.now()),
      ...(recompute === 'auto' ? {} : { recompute: recompute === 'on' }),
    });
    const prototypeParameters = gen.prototype.parameterCount();
    disposeGenerator(gen);
    const stepMs = marks.slice(1).map((t, i) => t - marks[i]!);
    return {
      model,
      L,
      msPerStep: median(stepMs),
      minMs: Math.min(...stepMs),
      stepMs: stepMs.map((x) => Math.round(x)),
      peakRssMB: mb(process.resourceUsage().maxRSS),
      baseRssMB,
      prototypeParameters,
    };
  } catch (err) {
    return { model, L, msPerStep: null, baseRssMB, error: (err as Error).message };
  } finally {
    if (tf.memory().numTensors > 0) tf.disposeVariables();
  }
}

function spawnCase(model: Model, L: number): CaseResult {
  const forwarded = [
    '--steps',
    String(timedSteps),
    '--recompute',
    recompute,
    ...(attentionMB !== undefined ? ['--attention-mb', String(attentionMB)] : []),
  ];
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', import.meta.filename, '--child', `${model}:${L}`, ...forwarded],
    { encoding: 'utf8', timeout: timeoutS * 1000, maxBuffer: 64 * 2 ** 20 },
  );
  const last = r.stdout?.trim().split('\n').pop() ?? '';
  if (r.status === 0 && last.startsWith('{')) return JSON.parse(last) as CaseResult;
  const why =
    r.error?.message ??
    (r.signal
      ? `stopped by ${r.signal}${r.signal === 'SIGKILL' ? ' (out of memory?)' : ''}`
      : `exit ${r.status}: ${r.stderr.trim().split('\n').pop()}`);
  return { model, L, msPerStep: null, error: why };
}

/** log(ms₂/ms₁) / log(L₂/L₁) between consecutive lengths that both ran: 1 is linear in L, 2 quadratic. */
function exponents(rows: CaseResult[], ms: (c: CaseResult) => number | null | undefined) {
  const out: Record<string, number | null> = {};
  for (let i = 1; i < rows.length; i++) {
    const a = rows[i - 1]!;
    const b = rows[i]!;
    const [ma, mb] = [ms(a), ms(b)];
    out[`${a.L}->${b.L}`] = ma && mb ? Number((Math.log(mb / ma) / Math.log(b.L / a.L)).toFixed(2)) : null;
  }
  return out;
}

async function main(): Promise<void> {
  if (args.child) {
    const [model, L] = args.child.split(':');
    console.log(JSON.stringify(await runCase(model as Model, Number(L))));
    return;
  }
  const sorted = [...lengths].sort((a, b) => a - b);
  const summary: Record<
    string,
    {
      cases: CaseResult[];
      exponent: Record<string, number | null>;
      exponentMin: Record<string, number | null>;
    }
  > = {};
  for (const model of models) {
    const cases: CaseResult[] = [];
    for (const L of sorted) {
      const c = spawnCase(model, L);
      cases.push(c);
      console.log(
        `${model.padEnd(12)} L ${String(L).padStart(6)}  ` +
          (c.msPerStep === null
            ? `not run: ${c.error}`
            : `${c.msPerStep.toFixed(0).padStart(7)} ms/step (min ${c.minMs?.toFixed(0)})  peak RSS ${c.peakRssMB} MB ` +
              `(base ${c.baseRssMB} MB)  steps [${c.stepMs?.join(', ')}] ms`),
      );
    }
    summary[model] = {
      cases,
      exponent: exponents(cases, (c) => c.msPerStep),
      exponentMin: exponents(cases, (c) => c.minMs),
    };
  }
  console.log(
    JSON.stringify({
      bench: 'sequence-length',
      setup: {
        d: 128,
        layers: 2,
        tokenSize: TOKEN_SIZE,
        decoder: [1, 16, 32, 16, 1],
        batch: 8,
        diffusionBatch: 256,
        states: 2,
        timedSteps,
      },
      models: Object.fromEntries(
        Object.entries(summary).map(([m, s]) => [
          m,
          {
            exponent: s.exponent,
            exponentMin: s.exponentMin,
            byLength: Object.fromEntries(
              s.cases.map((c) => [
                c.L,
                c.msPerStep === null
                  ? { error: c.error }
                  : {
                      msPerStep: Math.round(c.msPerStep),
                      minMs: Math.round(c.minMs ?? c.msPerStep),
                      peakRssMB: c.peakRssMB,
                      baseRssMB: c.baseRssMB,
                    },
              ]),
            ),
          },
        ]),
      ),
    }),
  );
}

await main();
