import { datasetSpecSchema, harvestConfigSchema } from '@rpg/checkpoint-harvest';
import { issueLines, JsonFileError, readJsonFile } from '@rpg/core';
import { InputError } from '@rpg/core/input-error';
import { generateStageConfigSchema, trainStageConfigSchema } from '@rpg/diffusion-decoder';
import { evaluateCommandFields, evaluateStageConfigSchema } from '@rpg/evaluator';
import { tokenizerConfigSchema } from '@rpg/tokenizer';
import { z } from 'zod';
import { fillDerivedSizes } from './derived-sizes.js';

/** The longest experiment name: it becomes part of the workflow id and of directory names. */
export const MAX_NAME_LENGTH = 64;
/** Harvest runs per experiment (or per task): each is a full training run. */
export const MAX_RUNS = 1000;

/** An experiment's name: it names the run, its workflow id and the report. */
export const experimentNameSchema = z
  .string()
  .max(MAX_NAME_LENGTH, `at most ${MAX_NAME_LENGTH} characters (it names the workflow and the report)`)
  .regex(/^[a-z0-9][a-z0-9-]*$/, 'lowercase letters, digits and dashes (it names the run and the report)');

/** A config's zod issues as indented `path: message` lines, for a ConfigError. */
export function indentedIssues(error: z.ZodError): string {
  return issueLines(error)
    .map((line) => `  ${line}`)
    .join('\n');
}

/** `evaluate.command` and its settings: given, the user's command scores every model (see `@rpg/evaluator`). */
export const optionalCommandFields = {
  command: evaluateCommandFields.command.optional(),
  metric: evaluateCommandFields.metric.optional(),
  timeoutSeconds: evaluateCommandFields.timeoutSeconds.optional(),
  cwd: evaluateCommandFields.cwd.optional(),
};

/**
 * One experiment, end to end, as data: which data set and network, how checkpoints are harvested, how they are
 * tokenized, how the generator is trained and sampled, how the result is evaluated. Every stage's part is that
 * stage's own schema, so a config error names the exact field.
 */
export const pipelineConfigSchema = z
  .object({
    name: experimentNameSchema,
    dataset: datasetSpecSchema,
    /** Harvest runs (seeds `harvest.seed`, `harvest.seed + 1`, …), each with its own permutation state. */
    runs: z.number().int().positive().max(MAX_RUNS).default(1),
    harvest: harvestConfigSchema,
    tokenizer: tokenizerConfigSchema,
    train: trainStageConfigSchema,
    generate: generateStageConfigSchema,
    evaluate: evaluateStageConfigSchema
      .omit({ dataset: true })
      .extend(optionalCommandFields)
      .default({ sigmas: [0.01, 0.03, 0.05], seed: 0 }),
  })
  .strict();

export type PipelineConfig = z.output<typeof pipelineConfigSchema>;
export type PipelineConfigInput = z.input<typeof pipelineConfigSchema>;

export class ConfigError extends InputError {
  override readonly name = 'ConfigError';
}

/** Validates a config; the error lists every bad field by its path (e.g. `train.prototype.d`). */
export function parsePipelineConfig(raw: unknown, source = 'config'): PipelineConfig {
  // Token size, d and steps a config leaves out come from the target network (derived-sizes.ts).
  const parsed = pipelineConfigSchema.safeParse(fillDerivedSizes(raw).raw);
  if (!parsed.success) {
    throw new ConfigError(`${source} is not a valid pipeline config:\n${indentedIssues(parsed.error)}`);
  }
  return parsed.data;
}

/**
 * Reads a JSON config file; the error says whether it could not be read, is too large (over
 * {@link MAX_CONFIG_BYTES}) or is not JSON.
 */
export async function readJsonConfig(path: string): Promise<unknown> {
  try {
    return await readJsonFile(path, { what: 'config' });
  } catch (err) {
    if (err instanceof JsonFileError) throw new ConfigError(err.message);
    throw err;
  }
}

/** Reads and validates a JSON config file. */
export async function loadPipelineConfig(path: string): Promise<PipelineConfig> {
  return parsePipelineConfig(await readJsonConfig(path), path);
}
