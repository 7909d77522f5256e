/**
 * rpg-diffusion-decoder: train the RPG generator on tokenized checkpoints, generate new checkpoints with it, and
 * inspect a trained one. Arguments are parsed and checked with light imports only, so `--help` and usage errors
 * are quick; the library (and with it tfjs) is imported once the arguments are good.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import type { TrainState } from './train-generator.js';

const TOOL = 'rpg-diffusion-decoder';

const TOOL_HELP = `${TOOL}: train the RPG generator (recurrent prototype model + diffusion token decoder) on
tokenized checkpoints, generate new checkpoints with it, and inspect a trained generator.

Usage:
  ${TOOL} train --tokens <dir> --out <dir> [options]
      Trains a generator on the tokens of a tokenizer directory (what "rpg-tokenizer tokenize --out" writes).
  ${TOOL} generate --generator <dir> --tokens <dir> --out <dir> [options]
      Samples new checkpoints and writes them as gen-000.safetensors, gen-001.safetensors, ...
  ${TOOL} inspect <generator dir>
      Prints the configuration, parameter counts, steps trained and the last loss.
  ${TOOL} <command> --help
      The options of one command.

The tfjs backend is the fastest one available; set RPG_BACKEND (node-gpu, node, wasm, cpu) to force one.
`;

const TRAIN_HELP = `${TOOL} train --tokens <dir> --out <dir> [options]

Trains the recurrent prototype model and the diffusion token decoder jointly on every checkpoint of a tokenizer
directory, then writes the generator to --out (generator.json, generator.safetensors, training.json). --out must
not exist or be empty; it appears only once complete.

Required:
  --tokens <dir>            tokenizer directory: tokenizer.json, copied.safetensors, tokens.safetensors
  --out <dir>               where the generator goes

Recurrent prototype model:
  --model <name>            mamba2 (default) | lstm | transformer | none
  --d <n>                   prototype width (default: the token size k)
  --layers <n>              sequence-model layers (default 2)
  --position <kind>         position embedding: 2d (default) | 1d | learnable
  --states <mode>           permutation states: checkpoint (default): one per training checkpoint;
                            run: one per training run, read from <tokens>/tokens-meta.json or from
                            checkpoint names that start with runNN- (as rpg-checkpoint-harvest names them)

Diffusion decoder:
  --channels <list>         conv channels, symmetric, 1 at both ends (default 1,32,64,128,64,32,1)
  --kernel <n>              conv width, odd (default 7)
  --conditioning <kind>     per-layer (default): a prototype and step projection per conv | shared
  --prediction <kind>       what the decoder outputs: epsilon (default, as RPG) | x0 | v

Training:
  --steps <n>               optimiser steps (default 1200)
  --lr <x>                  peak learning rate, cosine decay to 0 without warm-up (default 0.002)
  --batch-size <n>          checkpoints per step (default 8)
  --diffusion-batch <n>     (token, prototype) pairs per step (default 256)
  --ema-decay <x>           decay of the weight average the generator ends with, in [0, 1); 0 keeps the last
                            weights (default 0.995)
  --weight-decay <x>        AdamW weight decay (default 0)
  --seed <n>                seed of every random choice, integer >= 0 (default 0)

Resuming:
  --resume-dir <dir>        keeps the latest resume state here (a step-NNNNNNNN/ directory). If it already holds
                            one, training continues from it (same tokens and options; --steps may be larger).
  --checkpoint-every <n>    save a resume state every n steps (default 200; needs --resume-dir)

Ctrl-C stops training after the current step and leaves the latest resume state in --resume-dir; run the same
command again to continue. A second Ctrl-C quits at once.
`;

const GENERATE_HELP = `${TOOL} generate --generator <dir> --tokens <dir> --out <dir> [options]

Generates --count parameter sets: per model, a random permutation state, one pass of the recurrent model and the
diffusion sampler over all tokens (in chunks), then detokenization with the tokenizer state (copied tensors
included). Writes gen-000.safetensors, gen-001.safetensors, ... into --out and nothing else. --out must not exist
or be empty; it appears only once complete.

Required:
  --generator <dir>         a directory written by "${TOOL} train"
  --tokens <dir>            the tokenizer directory the generator was trained on
  --out <dir>               where the generated checkpoints go

Options:
  --count <n>               number of models (default 10)
  --seed <n>                sampling seed, integer >= 0 (default 0)
  --sampler <name>          ddim (default) | ddpm (all T steps)
  --steps <n>               DDIM steps (default 60; not with ddpm)
  --eta <x>                 DDIM stochasticity, >= 0; 0 is deterministic (default 0.05; not with ddpm)
  --chunk-size <n>          tokens decoded at once; bounds memory (default: as many as keep one activation
                            of the widest conv under 64 MiB, e.g. 512 rows of 256 with 128 channels)
  --clip <x>                clip the predicted clean tokens to [-x, x] at every step (default: off)
`;

const INSPECT_HELP = `${TOOL} inspect <generator dir>

Prints a trained generator's configuration (recurrent model, decoder, noise schedule), its parameter counts, the
number of steps it was trained for and its last loss.
`;

/** A mistake in the command line: reported with a pointer to --help. */
class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

/** Thrown into training/generation through the AbortSignal on Ctrl-C. */
class Interrupted extends Error {
  constructor(message = 'interrupted (Ctrl-C)') {
    super(message);
  }
}

// ---------------------------------------------------------------- argument schemas

function numberFlag(flag: string, what: string, ok: (v: number) => boolean) {
  return z.string().transform((text, ctx) => {
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value) || !ok(value)) {
      ctx.addIssue({ code: 'custom', message: `--${flag} must be ${what}, got "${text}"` });
      return z.NEVER;
    }
    return value;
  });
}
const intAtLeast = (flag: string, min: number) =>
  numberFlag(
    flag,
    min === 1 ? 'a positive integer' : `an integer >= ${min}`,
    (v) => Number.isInteger(v) && v >= min,
  );
const positive = (flag: string) => numberFlag(flag, 'a positive number', (v) => v > 0);
const nonNegative = (flag: string) => numberFlag(flag, 'a number >= 0', (v) => v >= 0);
const choice = <const T extends readonly [string, ...string[]]>(flag: string, values: T) =>
  z.enum(values, {
    error: (issue) => `--${flag} must be one of ${values.join(', ')}, got "${String(issue.input)}"`,
  });
const requiredPath = (flag: string, what: string) =>
  z.string({ error: `--${flag} <dir> is required: ${what}` }).min(1, `--${flag} must not be empty`);

const trainArgsSchema = z.object({
  tokens: requiredPath('tokens', 'the tokenizer directory (rpg-tokenizer tokenize --out <dir>)'),
  out: requiredPath('out', 'a new directory for the trained generator'),
  model: choice('model', ['mamba2', 'lstm', 'transformer', 'none']).default('mamba2'),
  d: intAtLeast('d', 2).optional(),
  layers: intAtLeast('layers', 1).default(2),
  position: choice('position', ['2d', '1d', 'learnable']).default('2d'),
  states: choice('states', ['checkpoint', 'run']).default('checkpoint'),
  channels: z
    .string()
    .transform((text, ctx) => {
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
    })
    .default([1, 32, 64, 128, 64, 32, 1]),
  kernel: intAtLeast('kernel', 1).default(7),
  conditioning: choice('conditioning', ['per-layer', 'shared']).default('per-layer'),
  prediction: choice('prediction', ['epsilon', 'x0', 'v']).default('epsilon'),
  steps: intAtLeast('steps', 1).default(1200),
  lr: positive('lr').default(0.002),
  'batch-size': intAtLeast('batch-size', 1).default(8),
  'diffusion-batch': intAtLeast('diffusion-batch', 1).default(256),
  'ema-decay': numberFlag('ema-decay', 'a number in [0, 1)', (v) => v >= 0 && v < 1).default(0.995),
  'weight-decay': nonNegative('weight-decay').default(0),
  seed: intAtLeast('seed', 0).default(0),
  'resume-dir': z.string().min(1, '--resume-dir must not be empty').optional(),
  'checkpoint-every': intAtLeast('checkpoint-every', 1).optional(),
});
type TrainArgs = z.output<typeof trainArgsSchema>;

const generateArgsSchema = z.object({
  generator: requiredPath('generator', `a directory written by "${TOOL} train"`),
  tokens: requiredPath('tokens', 'the tokenizer directory the generator was trained on'),
  out: requiredPath('out', 'a new directory for the generated checkpoints'),
  count: intAtLeast('count', 1).default(10),
  seed: intAtLeast('seed', 0).default(0),
  sampler: choice('sampler', ['ddim', 'ddpm']).default('ddim'),
  steps: intAtLeast('steps', 1).optional(),
  eta: nonNegative('eta').optional(),
  'chunk-size': intAtLeast('chunk-size', 1).optional(),
  clip: positive('clip').optional(),
});
type GenerateArgs = z.output<typeof generateArgsSchema>;

const TRAIN_OPTIONS = [
  'tokens',
  'out',
  'model',
  'd',
  'layers',
  'position',
  'states',
  'channels',
  'kernel',
  'conditioning',
  'prediction',
  'steps',
  'lr',
  'batch-size',
  'diffusion-batch',
  'ema-decay',
  'weight-decay',
  'seed',
  'resume-dir',
  'checkpoint-every',
] as const;
const GENERATE_OPTIONS = [
  'generator',
  'tokens',
  'out',
  'count',
  'seed',
  'sampler',
  'steps',
  'eta',
  'chunk-size',
  'clip',
] as const;

/** parseArgs with string options (+ --help); node's own errors name the bad option. */
function parseCommandLine(command: string, argv: string[], names: readonly string[]) {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const name of names) options[name] = { type: 'string' };
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message, command);
  }
}

function validate<S extends z.ZodType>(schema: S, values: unknown, command: string): z.output<S> {
  const r = schema.safeParse(values);
  if (!r.success) throw new UsageError(r.error.issues.map((i) => i.message).join('\n'), command);
  return r.data;
}

// ---------------------------------------------------------------- shared helpers

/** The library, imported only when a command runs (it loads tfjs). */
async function library() {
  const [core, tokenizer, harvest, prototype, io, train, gen, unet, sink, checks] = await Promise.all([
    import('@rpg/core'),
    import('@rpg/tokenizer'),
    import('@rpg/checkpoint-harvest'),
    import('@rpg/recurrent-prototype'),
    import('./io.js'),
    import('./train-generator.js'),
    import('./generate.js'),
    import('./unet.js'),
    import('./checkpoint-sink.js'),
    import('./trained-on.js'),
  ]);
  return { core, tokenizer, harvest, prototype, io, train, gen, unet, sink, checks };
}
type Library = Awaited<ReturnType<typeof library>>;

/** Installs a Ctrl-C handler that aborts `controller` (a second Ctrl-C exits at once); returns its remover. */
function onCtrlC(controller: AbortController, what: string): () => void {
  const handler = () => {
    if (controller.signal.aborted) {
      process.stderr.write('\nsecond Ctrl-C: exiting now\n');
      process.exit(130);
    }
    process.stderr.write(`\nCtrl-C: stopping ${what} (Ctrl-C again to quit at once)\n`);
    controller.abort(new Interrupted());
  };
  process.on('SIGINT', handler);
  return () => process.off('SIGINT', handler);
}

function sha256(bytes: ArrayBufferView): string {
  return createHash('sha256')
    .update(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength))
    .digest('hex');
}

async function fileSha256(path: string): Promise<string | undefined> {
  try {
    return sha256(await readFile(path));
  } catch {
    return undefined;
  }
}

async function writeFileAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  await writeFile(tmp, text, { flush: true });
  await rename(tmp, path);
}

function isInside(child: string, parent: string): boolean {
  const rel = relative(resolve(parent), resolve(child));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** Which run each checkpoint of a tokenizer directory came from, renumbered 0..runs-1. */
async function runsOf(lib: Library, tokensDir: string, count: number, names?: string[]): Promise<number[]> {
  const { TOKENS_META_FILE, tokensMetaSchema } = lib.tokenizer;
  const metaPath = join(tokensDir, TOKENS_META_FILE);
  let runs: number[] | undefined;
  let text: string | undefined;
  try {
    text = await readFile(metaPath, 'utf8');
  } catch {
    text = undefined;
  }
  if (text !== undefined) {
    const parsed = tokensMetaSchema.safeParse(JSON.parse(text));
    if (!parsed.success || parsed.data.runs.length !== count) {
      throw new Error(`${metaPath} does not list one run per checkpoint (${count}); re-run the tokenizer`);
    }
    runs = parsed.data.runs;
  } else {
    const ids = names?.map((n) => /^run(\d+)-/.exec(n)?.[1]);
    if (!ids || ids.some((id) => id === undefined)) {
      const example = names?.find((n) => !/^run\d+-/.test(n));
      throw new UsageError(
        `--states run: cannot tell which run each checkpoint came from: ${tokensDir} has no ${TOKENS_META_FILE} ` +
          (names
            ? `and the checkpoint name "${example}" does not start with runNN-`
            : 'and its tokens file has no checkpoint names') +
          '; use --states checkpoint',
        'train',
      );
    }
    runs = ids.map(Number);
  }
  const distinct = [...new Set(runs)].sort((a, b) => a - b);
  return runs.map((r) => distinct.indexOf(r));
}

// ---------------------------------------------------------------- resume directory

/** What must match for a resume state to be continued: the data and every option but --steps. */
type Fingerprint = Record<string, unknown>;

const RESUME_RUN_FILE = 'run.json';
const STEP_DIR = /^step-(\d+)$/;

/** Flag names of the fingerprint keys, for error messages. */
const FINGERPRINT_FLAGS: Record<string, string> = {
  tokens: '--tokens (the token values)',
  prototype: '--model / --d / --layers / --position',
  decoder: '--channels / --kernel / --conditioning / --prediction',
  lr: '--lr',
  batchSize: '--batch-size',
  diffusionBatch: '--diffusion-batch',
  emaDecay: '--ema-decay',
  weightDecay: '--weight-decay',
  seed: '--seed',
  stateOf: '--states',
};

async function latestStepDir(dir: string): Promise<{ name: string; step: number } | undefined> {
  let best: { name: string; step: number } | undefined;
  for (const name of await readdir(dir)) {
    const m = STEP_DIR.exec(name);
    if (m && (!best || Number(m[1]) > best.step)) best = { name, step: Number(m[1]) };
  }
  return best;
}

/**
 * Prepares `dir` to hold resume states of the run described by `fingerprint`: creates it (with `run.json`), or
 * checks that the run it holds is this one. Returns the latest state in it, if any.
 */
async function openResumeDir(
  lib: Library,
  dir: string,
  fingerprint: Fingerprint,
): Promise<{ state: TrainState; path: string } | undefined> {
  const { stableStringify } = lib.core;
  let entries: string[];
  try {
    if (!(await stat(dir)).isDirectory()) {
      throw new UsageError(`--resume-dir ${dir} exists and is not a directory`, 'train');
    }
    entries = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdir(dir, { recursive: true });
    entries = [];
  }
  const runFile = join(dir, RESUME_RUN_FILE);
  if (!entries.includes(RESUME_RUN_FILE)) {
    if (entries.length > 0) {
      throw new UsageError(
        `--resume-dir ${dir} is not empty and holds no resume state (no ${RESUME_RUN_FILE}); give a new or empty directory`,
        'train',
      );
    }
    await writeFileAtomic(runFile, `${JSON.stringify(fingerprint, null, 1)}\n`);
    return undefined;
  }
  const saved = JSON.parse(await readFile(runFile, 'utf8')) as Fingerprint;
  const keys = new Set([...Object.keys(saved), ...Object.keys(fingerprint)]);
  const differing = [...keys].filter(
    (k) => stableStringify(saved[k] ?? null) !== stableStringify(fingerprint[k] ?? null),
  );
  if (differing.length > 0) {
    throw new UsageError(
      `--resume-dir ${dir} holds a run with different ${differing.map((k) => FINGERPRINT_FLAGS[k] ?? k).join(', ')}; ` +
        'run with the same tokens and options (only --steps and --checkpoint-every may change), or give a new --resume-dir',
      'train',
    );
  }
  // Leftovers of a save that was cut short.
  for (const name of entries) {
    if (/^step-\d+\.tmp-/.test(name)) await rm(join(dir, name), { recursive: true, force: true });
  }
  const latest = await latestStepDir(dir);
  if (!latest) return undefined;
  const path = join(dir, latest.name);
  return { state: await lib.io.loadTrainState(path), path };
}

/**
 * Saves a resume state as `dir/step-NNNNNNNN`: written into a temporary sibling and renamed, so it is complete or
 * absent; older states are removed afterwards. Returns the state's directory.
 */
async function saveResumeState(lib: Library, dir: string, state: TrainState): Promise<string> {
  const name = `step-${String(state.step).padStart(8, '0')}`;
  const target = join(dir, name);
  const tmp = join(dir, `${name}.tmp-${randomBytes(6).toString('hex')}`);
  try {
    await lib.io.saveTrainState(tmp, state);
    await rm(target, { recursive: true, force: true });
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  for (const entry of await readdir(dir)) {
    const m = STEP_DIR.exec(entry);
    if (m && Number(m[1]) < state.step) await rm(join(dir, entry), { recursive: true, force: true });
  }
  return target;
}

// ---------------------------------------------------------------- train

const TRAINING_FILE = 'training.json';

async function runTrain(a: TrainArgs): Promise<void> {
  if (a['checkpoint-every'] !== undefined && a['resume-dir'] === undefined) {
    throw new UsageError('--checkpoint-every needs --resume-dir <dir> (where the resume states go)', 'train');
  }
  const resumeDir = a['resume-dir'];
  if (resumeDir !== undefined && (isInside(resumeDir, a.out) || isInside(a.out, resumeDir))) {
    throw new UsageError(
      '--resume-dir and --out must be separate directories, neither inside the other',
      'train',
    );
  }
  const lib = await library();
  const { core, tokenizer, harvest, prototype, io, train, unet } = lib;

  // Decoder options: the library's rules (symmetric channels, 1 at both ends, odd kernel), sizes filled in later.
  const dec = unet.decoderConfigSchema.safeParse({
    tokenSize: 1,
    d: 1,
    channels: a.channels,
    kernel: a.kernel,
    conditioning: a.conditioning,
    prediction: a.prediction,
  });
  if (!dec.success) {
    throw new UsageError(
      dec.error.issues.map((i) => `--${String(i.path[0])}: ${i.message}`).join('\n'),
      'train',
    );
  }
  await harvest.assertFreshOutDir(a.out);

  const state = await tokenizer.loadTokenizerState(a.tokens);
  // Rows are read from the file at each step: memory does not grow with the number of checkpoints.
  const tokensPath = join(a.tokens, tokenizer.TOKENS_FILE);
  const tokens = await tokenizer.TokenRowsFile.open(tokensPath, state);
  const k = state.config.tokenSize;
  const d = a.d ?? k;
  const proto = prototype.prototypeConfigSchema.safeParse({
    model: a.model,
    d,
    layers: a.layers,
    position: a.position,
  });
  if (!proto.success) {
    // headDim (Mamba2) and heads (Transformer) keep their defaults here, so a clash with them is d's to fix.
    const flagOf: Record<string, string> = {
      model: '--model',
      d: '--d',
      layers: '--layers',
      position: '--position',
      headDim: `--d ${d}`,
      heads: `--d ${d}`,
    };
    throw new UsageError(
      proto.error.issues
        .map((i) => `${flagOf[String(i.path[0])] ?? `prototype ${i.path.join('.')}`}: ${i.message}`)
        .join('\n'),
      'train',
    );
  }
  const stateOf =
    a.states === 'checkpoint'
      ? Array.from({ length: tokens.count }, (_, i) => i)
      : await runsOf(lib, a.tokens, tokens.count, tokens.names);
  const decoder = { ...dec.data, tokenSize: k, d };

  const fingerprint: Fingerprint = {
    tokens: {
      count: tokens.count,
      numTokens: tokens.numTokens,
      tokenSize: k,
      sha256: await core.sha256File(tokensPath),
    },
    prototype: proto.data,
    decoder,
    lr: a.lr,
    batchSize: a['batch-size'],
    diffusionBatch: a['diffusion-batch'],
    emaDecay: a['ema-decay'],
    weightDecay: a['weight-decay'],
    seed: a.seed,
    stateOf,
  };
  let resume: { state: TrainState; path: string } | undefined;
  if (resumeDir !== undefined) {
    resume = await openResumeDir(lib, resumeDir, fingerprint);
    if (resume && resume.state.step > a.steps) {
      throw new UsageError(
        `--resume-dir ${resumeDir} holds a state at step ${resume.state.step}, past --steps ${a.steps}; pass --steps >= ${resume.state.step}`,
        'train',
      );
    }
  }

  await core.loadBackend();
  const numStates = Math.max(...stateOf) + 1;
  process.stdout.write(
    `training on ${tokens.count} checkpoints: L = ${tokens.numTokens} tokens of k = ${k}, ` +
      `${numStates} permutation states (one per ${a.states}), ${a.model} d = ${d}\n`,
  );
  if (resume) process.stdout.write(`resumed from step ${resume.state.step} (${resume.path})\n`);

  const controller = new AbortController();
  const removeHandler = onCtrlC(controller, 'after the current step');
  const checkpointEvery = resumeDir === undefined ? 0 : (a['checkpoint-every'] ?? 200);
  let lastSaved: { step: number; path: string } | undefined = resume
    ? { step: resume.state.step, path: resume.path }
    : undefined;
  const started = Date.now();
  let gen: Awaited<ReturnType<typeof train.trainGenerator>>;
  try {
    gen = await train.trainGenerator({
      tokens,
      numCheckpoints: tokens.count,
      positions: tokenizer.tokenPositions(state),
      tokenizer: tokenizer.tokenizerFingerprint(state),
      stateOf,
      numStates,
      prototype: proto.data,
      decoder,
      steps: a.steps,
      lr: a.lr,
      batchSize: a['batch-size'],
      diffusionBatch: a['diffusion-batch'],
      seed: a.seed,
      weightDecay: a['weight-decay'],
      emaDecay: a['ema-decay'],
      checkpointEvery,
      ...(resume ? { resume: resume.state } : {}),
      onCheckpoint: async (s) => {
        lastSaved = { step: s.step, path: await saveResumeState(lib, resumeDir!, s) };
      },
      progress: core.terminalProgress(),
      signal: controller.signal,
    });
  } catch (err) {
    if (!controller.signal.aborted) throw err;
    throw new Interrupted(
      lastSaved
        ? `training interrupted; the latest resume state is ${lastSaved.path} (step ${lastSaved.step}): run the same command to continue`
        : resumeDir === undefined
          ? 'training interrupted; nothing was saved (pass --resume-dir <dir> to keep progress)'
          : `training interrupted before the first resume state (every ${checkpointEvery} steps); nothing was saved`,
    );
  } finally {
    removeHandler();
    tokens.close();
  }

  try {
    const seconds = (Date.now() - started) / 1000;
    const training = {
      tokens: resolve(a.tokens),
      tokenizerSha256: await fileSha256(join(a.tokens, tokenizer.STATE_FILE)),
      tokensFile: fingerprint.tokens,
      checkpoints: tokens.count,
      states: a.states,
      stateOf,
      steps: a.steps,
      resumedFrom: resume?.state.step ?? 0,
      lr: a.lr,
      batchSize: a['batch-size'],
      diffusionBatch: a['diffusion-batch'],
      emaDecay: a['ema-decay'],
      weightDecay: a['weight-decay'],
      seed: a.seed,
      seconds,
    };
    await harvest.writeDirAtomically(a.out, async (tmp) => {
      await io.saveGenerator(tmp, gen);
      await writeFile(join(tmp, TRAINING_FILE), `${JSON.stringify(training, null, 1)}\n`);
    });
    const h = gen.lossHistory;
    const recent = h.slice(-50);
    const mean = recent.reduce((s, v) => s + v, 0) / Math.max(1, recent.length);
    const from = resume?.state.step ?? 0;
    process.stdout.write(
      `${from < a.steps ? `trained steps ${from + 1}..${a.steps}` : `nothing left to train (state at step ${from})`} ` +
        `in ${seconds.toFixed(1)} s; loss (mean of last ${recent.length}) ${mean.toPrecision(4)}\nwrote ${a.out}\n`,
    );
  } finally {
    train.disposeGenerator(gen);
  }
}

// ---------------------------------------------------------------- generate

async function runGenerate(a: GenerateArgs): Promise<void> {
  if (a.sampler === 'ddpm') {
    for (const flag of ['steps', 'eta'] as const) {
      if (a[flag] !== undefined) {
        throw new UsageError(`--${flag} applies to --sampler ddim only (DDPM runs all T steps)`, 'generate');
      }
    }
  }
  if (isInside(a.out, a.generator) || isInside(a.out, a.tokens)) {
    throw new UsageError('--out must be a new directory, outside --generator and --tokens', 'generate');
  }
  const lib = await library();
  const { core, tokenizer, harvest, io, train, gen: generation, sink: sinks, checks } = lib;
  await harvest.assertFreshOutDir(a.out);
  const state = await tokenizer.loadTokenizerState(a.tokens);
  await core.loadBackend();
  const gen = await io.loadGenerator(a.generator);
  try {
    const { config } = gen;
    try {
      checks.checkTrainedOn(gen, state, `in ${a.tokens}`);
    } catch (err) {
      throw new UsageError(`${(err as Error).message} (--tokens)`, 'generate');
    }
    const steps = a.sampler === 'ddim' ? (a.steps ?? 60) : undefined;
    if (steps !== undefined && steps > config.schedule.T) {
      throw new UsageError(
        `--steps ${steps} is more than the T = ${config.schedule.T} diffusion steps of the generator`,
        'generate',
      );
    }

    const width = Math.max(3, String(a.count - 1).length);
    const fileOf = (m: number) => `gen-${String(m).padStart(width, '0')}.safetensors`;
    const controller = new AbortController();
    const removeHandler = onCtrlC(controller, 'generation');
    const started = Date.now();
    let states: number[];
    try {
      ({ states } = await harvest.writeDirAtomically(a.out, async (tmp) => {
        const sink = sinks.checkpointSink(state, tmp, fileOf);
        return generation.generate(gen, {
          count: a.count,
          seed: a.seed,
          sampler: a.sampler,
          ...(steps === undefined ? {} : { steps }),
          ...(a.eta === undefined ? {} : { eta: a.eta }),
          chunkSize: a['chunk-size'],
          ...(a.clip === undefined ? {} : { clip: a.clip }),
          progress: core.terminalProgress(),
          signal: controller.signal,
          write: sink.write,
        });
      }));
    } catch (err) {
      if (controller.signal.aborted) throw new Interrupted('generation interrupted; nothing was written');
      throw err;
    } finally {
      removeHandler();
    }
    const seconds = (Date.now() - started) / 1000;
    for (const [m, s] of states.entries()) process.stdout.write(`${fileOf(m)}  permutation state ${s}\n`);
    process.stdout.write(
      `generated ${a.count} models (${a.sampler}${steps === undefined ? '' : ` ${steps} steps`}) in ` +
        `${seconds.toFixed(1)} s\nwrote ${a.out}\n`,
    );
  } finally {
    train.disposeGenerator(gen);
  }
}

const trainingInfoSchema = z.looseObject({
  tokens: z.string().optional(),
  tokenizerSha256: z.string().optional(),
  checkpoints: z.number().optional(),
  states: z.string().optional(),
  steps: z.number().optional(),
  resumedFrom: z.number().optional(),
  lr: z.number().optional(),
  batchSize: z.number().optional(),
  diffusionBatch: z.number().optional(),
  emaDecay: z.number().optional(),
  weightDecay: z.number().optional(),
  seed: z.number().optional(),
  seconds: z.number().optional(),
});

/** `training.json` of a generator directory, when it is there and readable. */
async function readTrainingInfo(dir: string): Promise<z.output<typeof trainingInfoSchema> | undefined> {
  try {
    const parsed = trainingInfoSchema.safeParse(JSON.parse(await readFile(join(dir, TRAINING_FILE), 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- inspect

async function runInspect(dir: string): Promise<void> {
  const { core, io, train, gen: generation } = await library();
  await core.loadBackend();
  const gen = await io.loadGenerator(dir);
  try {
    const { config, lossHistory: h } = gen;
    const p = gen.prototype.config;
    const dec = config.decoder;
    const s = config.schedule;
    const protoParams = gen.prototype.parameterCount();
    const decParams = gen.decoder.parameterCount();
    const fmt = (n: number) => n.toLocaleString('en-US');
    const layers = new Set(config.positions.map((q) => q.layerIndex)).size;
    const lines = [
      `generator: ${dir}`,
      `recurrent model: ${p.model}, d ${p.d}, layers ${p.layers}, position ${p.position}` +
        (p.model === 'mamba2'
          ? ` (d_state ${p.dState}, expand ${p.expand}, conv ${p.convWidth}, head dim ${p.headDim}, chunk ${p.chunkSize})`
          : p.model === 'transformer'
            ? ` (heads ${p.heads})`
            : ''),
      `decoder: token size ${dec.tokenSize}, channels ${dec.channels.join(',')}, kernel ${dec.kernel}, conditioning ${dec.conditioning}, prediction ${dec.prediction}`,
      `diffusion: T ${s.T}, linear beta ${s.beta1} -> ${s.betaT}`,
      `tokens: L = ${config.positions.length} in ${layers} layers; permutation states: ${config.numStates}`,
      `parameters: ${fmt(protoParams + decParams)} (recurrent model ${fmt(protoParams)}, decoder ${fmt(decParams)})`,
      `steps trained: ${h.length}`,
    ];
    if (h.length > 0) {
      const recent = h.slice(-50);
      lines.push(
        `last loss: ${h.at(-1)!.toPrecision(4)} (mean of last ${recent.length}: ${(recent.reduce((a, b) => a + b, 0) / recent.length).toPrecision(4)})`,
      );
    } else lines.push('last loss: none recorded');
    const t = await readTrainingInfo(dir);
    if (t) {
      lines.push(
        `training: ${t.checkpoints ?? '?'} checkpoints from ${t.tokens ?? '?'}, states per ${t.states ?? '?'}, ` +
          `lr ${t.lr ?? '?'}, batch ${t.batchSize ?? '?'}, diffusion batch ${t.diffusionBatch ?? '?'}, ` +
          `EMA ${t.emaDecay ?? '?'}, seed ${t.seed ?? '?'}` +
          (t.resumedFrom ? `, resumed from step ${t.resumedFrom}` : '') +
          (t.seconds === undefined ? '' : `, ${t.seconds.toFixed(1)} s`),
      );
    }
    const broken = generation.nonFiniteWeights(gen);
    lines.push(
      broken.length === 0 ? 'weights: all finite' : `weights: NOT FINITE in ${broken.length} tensors`,
    );
    process.stdout.write(`${lines.join('\n')}\n`);
    if (broken.length > 0) {
      throw new Error(
        `${dir}: the generator's weights hold NaN or infinite values (${broken.slice(0, 5).join(', ')}` +
          `${broken.length > 5 ? ', …' : ''}); it cannot generate. Train it again`,
      );
    }
  } finally {
    train.disposeGenerator(gen);
  }
}

// ---------------------------------------------------------------- main

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(TOOL_HELP);
    return;
  }
  if (command === 'train') {
    const { values, positionals } = parseCommandLine(command, rest, TRAIN_OPTIONS);
    if (values.help) {
      process.stdout.write(TRAIN_HELP);
      return;
    }
    if (positionals.length > 0)
      throw new UsageError(`train takes no positional arguments, got "${positionals[0]}"`, command);
    await runTrain(validate(trainArgsSchema, values, command));
    return;
  }
  if (command === 'generate') {
    const { values, positionals } = parseCommandLine(command, rest, GENERATE_OPTIONS);
    if (values.help) {
      process.stdout.write(GENERATE_HELP);
      return;
    }
    if (positionals.length > 0) {
      throw new UsageError(`generate takes no positional arguments, got "${positionals[0]}"`, command);
    }
    await runGenerate(validate(generateArgsSchema, values, command));
    return;
  }
  if (command === 'inspect') {
    const { values, positionals } = parseCommandLine(command, rest, []);
    if (values.help) {
      process.stdout.write(INSPECT_HELP);
      return;
    }
    if (positionals.length !== 1) {
      throw new UsageError(
        `inspect needs exactly one generator directory, got ${positionals.length}`,
        command,
      );
    }
    await runInspect(positionals[0]!);
    return;
  }
  throw new UsageError(`unknown command "${command}"; use train, generate or inspect`);
}

try {
  await main(process.argv.slice(2));
} catch (err) {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`${TOOL}: ${err instanceof Interrupted ? '' : 'error: '}${message}\n`);
  if (err instanceof UsageError) {
    process.stderr.write(`Run "${TOOL} ${err.command ? `${err.command} ` : ''}--help" for usage.\n`);
  }
  process.exitCode = err instanceof Interrupted ? 130 : 1;
}
