import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckpointsMeta } from '@rpg/checkpoint-harvest';
import { type ProgressSink, silentProgress } from '@rpg/core';
import { InputError } from '@rpg/core/input-error';
import {
  loadTokenizerState,
  TOKENS_FILE,
  TOKENS_META_FILE,
  TokenRowsFile,
  tokenizerFingerprint,
  tokenPositions,
  tokensMetaSchema,
} from '@rpg/tokenizer';
import { seedStates, tasksOf } from './task-conditioning.js';
import type { TrainStageConfig } from './train-config.js';
import { type TrainedGenerator, type TrainState, trainGenerator } from './train-generator.js';

/**
 * Where a training run keeps its latest resume state. The pipeline's slot is a pointer in the artifact store, the
 * CLI's a plain directory; the job does not know which.
 */
export interface ResumeSlot {
  /** The latest durably saved state, or undefined to start from step 0. */
  latest(): Promise<TrainState | undefined>;
  /** Saves `state` durably (every `checkpointEvery` steps); the run continues once it resolves. */
  save(state: TrainState): Promise<void>;
}

export interface TrainJobInput {
  /** A tokenizer directory: `tokenizer.json`, `tokens.safetensors` and (from the tokenize stage) `tokens-meta.json`. */
  tokensDir: string;
  config: TrainStageConfig;
  /**
   * The checkpoints the tokens were made from, when known: permutation states per seed and a task-conditioned model
   * need their facts.
   */
  checkpoints?: (() => Promise<CheckpointsMeta>) | undefined;
  /** Without one, nothing is saved along the way (`checkpointEvery` is ignored). */
  slot?: ResumeSlot | undefined;
  progress?: ProgressSink | undefined;
  signal?: AbortSignal | undefined;
  /** Called once when training continues from a resume state. */
  onResume?: ((step: number) => void) | undefined;
}

/** The error of a tokens directory whose runs cannot be told: the permutation states "run" need them. */
export class RunsUnknownError extends InputError {
  override readonly name = 'RunsUnknownError';
}

/**
 * Which run each checkpoint of a tokenizer directory came from: its `tokens-meta.json` (what the tokenize stage
 * writes), else checkpoint names starting `runNN-` (as rpg-checkpoint-harvest names them), renumbered 0..runs-1.
 */
export async function runsOfTokens(tokensDir: string, tokens: TokenRowsFile): Promise<number[]> {
  const metaPath = join(tokensDir, TOKENS_META_FILE);
  let text: string | undefined;
  try {
    text = await readFile(metaPath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (text !== undefined) {
    const { runs } = tokensMetaSchema.parse(JSON.parse(text));
    if (runs.length !== tokens.count) {
      throw new InputError(
        `${metaPath} does not list one run per checkpoint (${tokens.count}); re-run the tokenizer`,
      );
    }
    return runs;
  }
  const { names } = tokens;
  const ids = names?.map((n) => /^run(\d+)-/.exec(n)?.[1]);
  if (!ids || ids.some((id) => id === undefined)) {
    const example = names?.find((n) => !/^run\d+-/.test(n));
    throw new RunsUnknownError(
      `--states run: cannot tell which run each checkpoint came from: ${tokensDir} has no ${TOKENS_META_FILE} ` +
        (names
          ? `and the checkpoint name "${example}" does not start with runNN-`
          : 'and its tokens file has no checkpoint names') +
        '; use --states checkpoint',
    );
  }
  const runs = ids.map(Number);
  const distinct = [...new Set(runs)].sort((a, b) => a - b);
  return runs.map((r) => distinct.indexOf(r));
}

/** The permutation state of each checkpoint, as `config.states` asks. */
export async function permutationStates(
  input: Pick<TrainJobInput, 'tokensDir' | 'config' | 'checkpoints'>,
  tokens: TokenRowsFile,
): Promise<number[]> {
  const { states } = input.config;
  if (states === 'checkpoint') return Array.from({ length: tokens.count }, (_, i) => i);
  if (states === 'run') return runsOfTokens(input.tokensDir, tokens);
  if (!input.checkpoints) {
    throw new InputError('states "seed" needs the checkpoints the tokens were made from (a pipeline run)');
  }
  return seedStates(await input.checkpoints());
}

/**
 * The train stage's job: the generator of `config` trained on the tokens of a tokenizer directory, continuing from
 * the slot's latest resume state and saving one into it every `checkpointEvery` steps. The caller saves the
 * generator and disposes of it. The pipeline's train stage and `rpg-diffusion-decoder train` both run this.
 */
export async function trainJob(input: TrainJobInput): Promise<TrainedGenerator> {
  const { config, tokensDir, slot } = input;
  const state = await loadTokenizerState(tokensDir);
  // Rows are read from the file at each step: memory does not grow with the number of checkpoints.
  const tokens = await TokenRowsFile.open(join(tokensDir, TOKENS_FILE), state);
  try {
    const stateOf = await permutationStates(input, tokens);
    const taskDim = config.prototype.task?.inputDim;
    if (taskDim !== undefined && !input.checkpoints) {
      throw new InputError('a task-conditioned generator needs the checkpoints the tokens were made from');
    }
    const tasks = taskDim !== undefined ? tasksOf(await input.checkpoints!(), taskDim) : undefined;
    const resume = slot ? await slot.latest() : undefined;
    if (resume) input.onResume?.(resume.step);
    return await trainGenerator({
      tokens,
      numCheckpoints: tokens.count,
      positions: tokenPositions(state),
      tokenizer: tokenizerFingerprint(state),
      stateOf,
      ...(tasks ? { tasks } : {}),
      prototype: config.prototype,
      decoder: { ...config.decoder, tokenSize: state.config.tokenSize },
      steps: config.steps,
      lr: config.lr,
      batchSize: config.batchSize,
      diffusionBatch: config.diffusionBatch,
      seed: config.seed,
      weightDecay: config.weightDecay,
      emaDecay: config.emaDecay,
      checkpointEvery: slot ? config.checkpointEvery : 0,
      ...(resume ? { resume } : {}),
      ...(slot ? { onCheckpoint: (s: TrainState) => slot.save(s) } : {}),
      progress: input.progress ?? silentProgress,
      ...(input.signal ? { signal: input.signal } : {}),
    });
  } finally {
    tokens.close();
  }
}
