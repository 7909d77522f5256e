/**
 * The command lines of rpg-diffusion-decoder as typed values. Light (cli-kit and zod only), so usage errors come
 * before the library (and tfjs) is loaded.
 */
import {
  choiceFlag,
  intFlag,
  nonNegativeFlag,
  numberFlag,
  positiveFlag,
  UsageError,
} from '@rpg/core/cli-kit';
import { z } from 'zod';
import { TOOL } from './cli-help.js';

const requiredPath = (flag: string, what: string) =>
  z.string({ error: `--${flag} <dir> is required: ${what}` }).min(1, `--${flag} must not be empty`);

const channelsFlag = z.string().transform((text, ctx) => {
  const parts = text.split(',').map((p) => p.trim());
  const values = parts.map(Number);
  if (parts.some((p) => p === '') || values.some((v) => !Number.isInteger(v) || v < 1)) {
    ctx.addIssue({
      code: 'custom',
      message: `--channels must be a comma-separated list of positive integers such as 1,32,64,32,1, got "${text}"`,
    });
    return z.NEVER;
  }
  return values;
});

/**
 * The flags of `train` that set a key of the pipeline's train section: each one's path in the section (a key's
 * flag is its name in kebab case; the prototype's and the decoder's keys are flags of their own) and its parser.
 */
export const TRAIN_CONFIG_FLAGS = {
  model: {
    path: ['prototype', 'model'],
    parse: choiceFlag('model', ['mamba2', 'lstm', 'transformer', 'none']),
  },
  d: { path: ['prototype', 'd'], parse: intFlag('d', 2) },
  layers: { path: ['prototype', 'layers'], parse: intFlag('layers', 1) },
  position: { path: ['prototype', 'position'], parse: choiceFlag('position', ['2d', '1d', 'learnable']) },
  'state-embedding': {
    path: ['prototype', 'stateEmbedding'],
    parse: choiceFlag('state-embedding', ['shared', 'per-position']),
  },
  channels: { path: ['decoder', 'channels'], parse: channelsFlag },
  kernel: { path: ['decoder', 'kernel'], parse: intFlag('kernel', 1) },
  conditioning: {
    path: ['decoder', 'conditioning'],
    parse: choiceFlag('conditioning', ['per-layer', 'shared']),
  },
  prediction: { path: ['decoder', 'prediction'], parse: choiceFlag('prediction', ['epsilon', 'x0', 'v']) },
  'step-hidden': { path: ['decoder', 'stepHidden'], parse: intFlag('step-hidden', 1) },
  steps: { path: ['steps'], parse: intFlag('steps', 1) },
  lr: { path: ['lr'], parse: positiveFlag('lr') },
  'batch-size': { path: ['batchSize'], parse: intFlag('batch-size', 1) },
  'diffusion-batch': { path: ['diffusionBatch'], parse: intFlag('diffusion-batch', 1) },
  'ema-decay': {
    path: ['emaDecay'],
    parse: numberFlag('ema-decay', 'a number in [0, 1)', (v) => v >= 0 && v < 1),
  },
  'weight-decay': { path: ['weightDecay'], parse: nonNegativeFlag('weight-decay') },
  seed: { path: ['seed'], parse: intFlag('seed', 0) },
  states: { path: ['states'], parse: choiceFlag('states', ['run', 'checkpoint', 'seed']) },
  'checkpoint-every': { path: ['checkpointEvery'], parse: intFlag('checkpoint-every', 1) },
} as const satisfies Record<string, { path: readonly string[]; parse: z.ZodType }>;

type ConfigFlag = keyof typeof TRAIN_CONFIG_FLAGS;

/** The flag that sets the train-section key at `path`, or the key itself (`prototype.headDim`) if none does. */
export function flagOfKey(path: readonly PropertyKey[]): string {
  const key = path.join('.');
  for (const [flag, { path: p }] of Object.entries(TRAIN_CONFIG_FLAGS))
    if (p.join('.') === key) return `--${flag}`;
  return key;
}

export const TRAIN_OPTIONS = ['tokens', 'out', 'config', 'resume-dir', ...Object.keys(TRAIN_CONFIG_FLAGS)];

export interface TrainArgs {
  tokens: string;
  out: string;
  /** A JSON file holding the train section (or a whole pipeline config). */
  config?: string | undefined;
  resumeDir?: string | undefined;
  /** The train-section keys the flags set, nested as in the section. */
  overrides: Record<string, unknown>;
  /** Whether `--checkpoint-every` was given. */
  checkpointEveryFlag: boolean;
}

const trainPathsSchema = z.object({
  tokens: requiredPath('tokens', 'the tokenizer directory (rpg-tokenizer tokenize --out <dir>)'),
  out: requiredPath('out', 'a new directory for the trained generator'),
  config: z.string().min(1, '--config must not be empty').optional(),
  'resume-dir': z.string().min(1, '--resume-dir must not be empty').optional(),
});

/** The `train` flags as {@link TrainArgs}; every bad flag is named in one usage error. */
export function parseTrainArgs(values: Record<string, unknown>): TrainArgs {
  const messages: string[] = [];
  const paths = trainPathsSchema.safeParse(values);
  if (!paths.success) messages.push(...paths.error.issues.map((i) => i.message));
  const overrides: Record<string, unknown> = {};
  for (const [flag, { path, parse }] of Object.entries(TRAIN_CONFIG_FLAGS)) {
    const text = values[flag];
    if (text === undefined) continue;
    const r = (parse as z.ZodType).safeParse(text);
    if (!r.success) {
      messages.push(...r.error.issues.map((i) => i.message));
      continue;
    }
    let at = overrides;
    for (const key of path.slice(0, -1)) {
      at[key] ??= {};
      at = at[key] as Record<string, unknown>;
    }
    at[path.at(-1)!] = r.data;
  }
  if (messages.length > 0 || !paths.success) throw new UsageError(messages.join('\n'), 'train');
  return {
    tokens: paths.data.tokens,
    out: paths.data.out,
    config: paths.data.config,
    resumeDir: paths.data['resume-dir'],
    overrides,
    checkpointEveryFlag: values['checkpoint-every' satisfies ConfigFlag] !== undefined,
  };
}

export const generateArgsSchema = z.object({
  generator: requiredPath('generator', `a directory written by "${TOOL} train"`),
  tokens: requiredPath('tokens', 'the tokenizer directory the generator was trained on'),
  out: requiredPath('out', 'a new directory for the generated checkpoints'),
  count: intFlag('count', 1).default(10),
  seed: intFlag('seed', 0).default(0),
  sampler: choiceFlag('sampler', ['ddim', 'ddpm']).default('ddim'),
  steps: intFlag('steps', 1).optional(),
  eta: nonNegativeFlag('eta').optional(),
  'chunk-size': intFlag('chunk-size', 1).optional(),
  clip: positiveFlag('clip').optional(),
});
export type GenerateArgs = z.output<typeof generateArgsSchema>;
export const GENERATE_OPTIONS = Object.keys(generateArgsSchema.shape);
