import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Rng,
  type RngState,
  readSafetensorsFile,
  type TensorEntry,
  writeFileAtomic,
  writeSafetensorsFile,
} from '@rpg/core';
import { tokenizerFingerprintSchema } from '@rpg/tokenizer';
import { z } from 'zod';
import { decoderConfigSchema } from './decoder-config.js';
import { scheduleConfigSchema } from './schedule.js';
import {
  buildGenerator,
  type GeneratorConfig,
  type TrainedGenerator,
  type TrainState,
} from './train-generator.js';

/** Files of a saved generator directory. */
export const GENERATOR_CONFIG_FILE = 'generator.json';
export const GENERATOR_WEIGHTS_FILE = 'generator.safetensors';
/** Files of a saved resume checkpoint directory. */
export const TRAIN_STATE_FILE = 'train-state.json';
export const TRAIN_STATE_WEIGHTS_FILE = 'train-state.safetensors';

const positionSchema = z.object({
  layerIndex: z.number().int().min(0),
  indexInLayer: z.number().int().min(0),
  layerTokens: z.number().int().min(1),
});

const generatorConfigSchema = z.object({
  version: z.literal(1),
  // The prototype package validates its own config when the model is built.
  prototype: z.looseObject({ d: z.number().int().positive() }),
  decoder: decoderConfigSchema,
  schedule: scheduleConfigSchema,
  positions: z.array(positionSchema).min(1),
  numStates: z.number().int().positive(),
  tokenizer: tokenizerFingerprintSchema.optional(),
});

const generatorFileSchema = z.object({
  config: generatorConfigSchema,
  lossHistory: z.array(z.number()).default([]),
});

/** Writes a JSON file atomically (temp file + rename). */
function writeJson(path: string, value: unknown): Promise<void> {
  return writeFileAtomic(path, `${JSON.stringify(value, null, 1)}\n`);
}

function prefixed(prefix: string, weights: Map<string, TensorEntry>): [string, TensorEntry][] {
  return [...weights].map(([name, e]) => [`${prefix}${name}`, e]);
}

function unprefixed(prefix: string, tensors: Map<string, TensorEntry>): Map<string, TensorEntry> {
  const out = new Map<string, TensorEntry>();
  for (const [name, e] of tensors) if (name.startsWith(prefix)) out.set(name.slice(prefix.length), e);
  return out;
}

/** Saves a generator into `dir`: `generator.json` (configuration, loss history) + `generator.safetensors` (weights). */
export async function saveGenerator(dir: string, gen: TrainedGenerator): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeSafetensorsFile(
    join(dir, GENERATOR_WEIGHTS_FILE),
    [...prefixed('prototype.', gen.prototype.weights()), ...prefixed('decoder.', gen.decoder.weights())],
    { format: 'rpg-generator', version: '1' },
  );
  await writeJson(join(dir, GENERATOR_CONFIG_FILE), { config: gen.config, lossHistory: gen.lossHistory });
}

/** Loads what {@link saveGenerator} wrote. */
export async function loadGenerator(dir: string): Promise<TrainedGenerator> {
  let raw: unknown;
  const configPath = join(dir, GENERATOR_CONFIG_FILE);
  try {
    raw = JSON.parse(await readFile(configPath, 'utf8'));
  } catch (err) {
    throw new Error(
      `cannot read ${configPath}: ${(err as Error).message} (is ${dir} a generator directory?)`,
    );
  }
  const parsed = generatorFileSchema.safeParse(raw);
  if (!parsed.success)
    throw new Error(`${configPath} is not a generator configuration: ${parsed.error.message}`);
  const config = parsed.data.config as unknown as GeneratorConfig;
  const { tensors } = await readSafetensorsFile(join(dir, GENERATOR_WEIGHTS_FILE));
  const gen = buildGenerator(config, new Rng(0));
  try {
    gen.prototype.loadWeights(unprefixed('prototype.', tensors));
    gen.decoder.loadWeights(unprefixed('decoder.', tensors));
  } catch (err) {
    gen.prototype.dispose();
    gen.decoder.dispose();
    throw err;
  }
  gen.lossHistory = parsed.data.lossHistory;
  return gen;
}

const trainStateFileSchema = z.object({
  step: z.number().int().min(0),
  optimizerStep: z.number().int().min(0),
  rng: z.object({
    words: z.tuple([z.number(), z.number(), z.number(), z.number()]),
    spareNormal: z.number().nullable(),
  }),
  lossHistory: z.array(z.number()),
  emaUpdates: z.number().int().min(0).optional(),
});

/** Saves a resume checkpoint into `dir` (`train-state.json` + `train-state.safetensors`). */
export async function saveTrainState(dir: string, state: TrainState): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeSafetensorsFile(join(dir, TRAIN_STATE_WEIGHTS_FILE), [
    ...prefixed('prototype.', state.prototypeWeights),
    ...prefixed('decoder.', state.decoderWeights),
    ...prefixed('optimizer.', state.optimizer.moments),
    ...(state.ema ? prefixed('ema.', state.ema.weights) : []),
  ]);
  await writeJson(join(dir, TRAIN_STATE_FILE), {
    step: state.step,
    optimizerStep: state.optimizer.step,
    rng: state.rng,
    lossHistory: state.lossHistory,
    ...(state.ema ? { emaUpdates: state.ema.updates } : {}),
  });
}

/** Loads what {@link saveTrainState} wrote. */
export async function loadTrainState(dir: string): Promise<TrainState> {
  const meta = trainStateFileSchema.parse(JSON.parse(await readFile(join(dir, TRAIN_STATE_FILE), 'utf8')));
  const { tensors } = await readSafetensorsFile(join(dir, TRAIN_STATE_WEIGHTS_FILE));
  return {
    step: meta.step,
    prototypeWeights: unprefixed('prototype.', tensors),
    decoderWeights: unprefixed('decoder.', tensors),
    optimizer: { step: meta.optimizerStep, moments: unprefixed('optimizer.', tensors) },
    rng: meta.rng as RngState,
    lossHistory: meta.lossHistory,
    ...(meta.emaUpdates === undefined
      ? {}
      : { ema: { updates: meta.emaUpdates, weights: unprefixed('ema.', tensors) } }),
  };
}
