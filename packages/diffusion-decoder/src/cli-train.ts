/** `rpg-diffusion-decoder train`: the pipeline's train stage ({@link trainJob}) on plain directories. */
import { join, resolve } from 'node:path';
import { loadBackend, readJsonFile, sha256File, terminalProgress } from '@rpg/core';
import { Interrupted, onCtrlC, UsageError } from '@rpg/core/cli-kit';
import { assertFreshOutDir, writeDirAtomically, writeFileAtomic } from '@rpg/core/durable-write';
import { isInside } from '@rpg/core/is-inside';
import { loadTokenizerState, STATE_FILE, TOKENS_FILE, TokenRowsFile } from '@rpg/tokenizer';
import { flagOfKey, type TrainArgs } from './cli-flags.js';
import { saveGenerator } from './generator-files.js';
import { ResumeDir } from './resume-dir.js';
import { type TrainStageConfig, trainStageConfigSchema } from './train-config.js';
import { disposeGenerator, type TrainedGenerator } from './train-generator.js';
import { permutationStates, RunsUnknownError, trainJob } from './train-job.js';

export const TRAINING_FILE = 'training.json';

type Section = Record<string, unknown>;
const isObject = (v: unknown): v is Section => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `b` over `a`, object by object (arrays and values of `b` replace those of `a`). */
function merged(a: Section, b: Section): Section {
  const out: Section = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = isObject(v) && isObject(a[k]) ? merged(a[k], v) : v;
  return out;
}

/** The train section of `--config`: the file itself, or the `train` of a whole pipeline config. */
async function readTrainSection(path: string): Promise<Section> {
  const raw = await readJsonFile(path, { what: 'train config', maxBytes: 1024 * 1024 });
  if (!isObject(raw)) throw new UsageError(`--config ${path} is not a JSON object`, 'train');
  if (isObject(raw.train) && 'name' in raw) return raw.train;
  return raw;
}

/** The settings of a run: `--config`, the flags over it, `prototype.d` defaulting to the token size. */
export async function resolveSettings(a: TrainArgs, tokenSize: number): Promise<TrainStageConfig> {
  const section = merged(a.config ? await readTrainSection(a.config) : {}, a.overrides);
  const prototype = isObject(section.prototype) ? section.prototype : {};
  section.prototype = { d: tokenSize, ...prototype };
  const r = trainStageConfigSchema.safeParse(section);
  if (!r.success) {
    throw new UsageError(
      r.error.issues.map((i) => `${flagOfKey(i.path) || 'train'}: ${i.message}`).join('\n'),
      'train',
    );
  }
  if (r.data.states === 'seed' || r.data.prototype.task) {
    throw new UsageError(
      'states "seed" and task conditioning need the checkpoints the tokens came from: run them in the pipeline (rpg local)',
      'train',
    );
  }
  return r.data;
}

function checkDirs(a: TrainArgs): void {
  if (a.checkpointEveryFlag && a.resumeDir === undefined) {
    throw new UsageError('--checkpoint-every needs --resume-dir <dir> (where the resume states go)', 'train');
  }
  if (
    a.resumeDir !== undefined &&
    (isInside(a.out, a.resumeDir, { orSame: true }) || isInside(a.resumeDir, a.out, { orSame: true }))
  ) {
    throw new UsageError(
      '--resume-dir and --out must be separate directories, neither inside the other',
      'train',
    );
  }
}

export async function runTrain(a: TrainArgs): Promise<void> {
  checkDirs(a);
  await assertFreshOutDir(a.out);
  const state = await loadTokenizerState(a.tokens);
  const k = state.config.tokenSize;
  const config = await resolveSettings(a, k);
  const tokensPath = join(a.tokens, TOKENS_FILE);
  const tokens = await TokenRowsFile.open(tokensPath, state);
  const tokensFile = { count: tokens.count, numTokens: tokens.numTokens, tokenSize: k };
  let stateOf: number[];
  try {
    stateOf = await permutationStates({ tokensDir: a.tokens, config }, tokens);
  } catch (err) {
    if (err instanceof RunsUnknownError) throw new UsageError(err.message, 'train');
    throw err;
  } finally {
    tokens.close();
  }
  const { steps, checkpointEvery, ...rest } = config;
  const fingerprint = { tokens: { ...tokensFile, sha256: await sha256File(tokensPath) }, ...rest, stateOf };
  const slot =
    a.resumeDir === undefined
      ? undefined
      : await ResumeDir.open(a.resumeDir, fingerprint, (key) =>
          key === 'tokens' ? '--tokens (the token values)' : flagOfKey([key]),
        );
  const from = slot?.saved?.step ?? 0;
  if (from > steps) {
    throw new UsageError(
      `--resume-dir ${a.resumeDir} holds a state at step ${from}, past --steps ${steps}; pass --steps >= ${from}`,
      'train',
    );
  }

  await loadBackend();
  const p = config.prototype;
  process.stdout.write(
    `training on ${tokens.count} checkpoints: L = ${tokens.numTokens} tokens of k = ${k}, ` +
      `${Math.max(...stateOf) + 1} permutation states (one per ${config.states}), ${p.model} d = ${p.d}\n`,
  );
  const controller = new AbortController();
  const removeHandler = onCtrlC(controller, 'after the current step');
  const started = Date.now();
  let gen: TrainedGenerator;
  try {
    gen = await trainJob({
      tokensDir: a.tokens,
      config,
      slot,
      progress: terminalProgress(),
      signal: controller.signal,
      onResume: (step) => process.stdout.write(`resumed from step ${step} (${slot?.saved?.path})\n`),
    });
  } catch (err) {
    if (!controller.signal.aborted) throw err;
    const saved = slot?.saved;
    throw new Interrupted(
      saved
        ? `training interrupted; the latest resume state is ${saved.path} (step ${saved.step}): run the same command to continue`
        : slot === undefined
          ? 'training interrupted; nothing was saved (pass --resume-dir <dir> to keep progress)'
          : `training interrupted before the first resume state (every ${checkpointEvery} steps); nothing was saved`,
    );
  } finally {
    removeHandler();
  }

  try {
    const seconds = (Date.now() - started) / 1000;
    const training = {
      tokens: resolve(a.tokens),
      tokenizerSha256: await sha256File(join(a.tokens, STATE_FILE)).catch(() => undefined),
      tokensFile: fingerprint.tokens,
      checkpoints: tokens.count,
      states: config.states,
      stateOf,
      steps,
      resumedFrom: from,
      lr: config.lr,
      batchSize: config.batchSize,
      diffusionBatch: config.diffusionBatch,
      emaDecay: config.emaDecay,
      weightDecay: config.weightDecay,
      seed: config.seed,
      seconds,
      config,
    };
    await writeDirAtomically(a.out, async (tmp) => {
      await saveGenerator(tmp, gen);
      await writeFileAtomic(join(tmp, TRAINING_FILE), `${JSON.stringify(training, null, 1)}\n`);
    });
    const recent = gen.lossHistory.slice(-50);
    const mean = recent.reduce((s, v) => s + v, 0) / Math.max(1, recent.length);
    process.stdout.write(
      `${from < steps ? `trained steps ${from + 1}..${steps}` : `nothing left to train (state at step ${from})`} ` +
        `in ${seconds.toFixed(1)} s; loss (mean of last ${recent.length}) ${mean.toPrecision(4)}\nwrote ${a.out}\n`,
    );
  } finally {
    disposeGenerator(gen);
  }
}
