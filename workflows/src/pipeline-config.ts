import { readFile } from 'node:fs/promises';
import { datasetSpecSchema, harvestConfigSchema } from '@rpg/checkpoint-harvest';
import { issueLines } from '@rpg/core';
import { generateStageConfigSchema, trainStageConfigSchema } from '@rpg/diffusion-decoder';
import { evaluateStageConfigSchema } from '@rpg/evaluator';
import { tokenizerConfigSchema } from '@rpg/tokenizer';
import { z } from 'zod';

/** An experiment's name: it names the run, its workflow id and the report. */
export const experimentNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]*$/, 'lowercase letters, digits and dashes (it names the run and the report)');

/** A config's zod issues as indented `path: message` lines, for a ConfigError. */
export function indentedIssues(error: z.ZodError): string {
  return issueLines(error)
    .map((line) => `  ${line}`)
    .join('\n');
}

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
    runs: z.number().int().positive().default(1),
    harvest: harvestConfigSchema,
    tokenizer: tokenizerConfigSchema,
    train: trainStageConfigSchema,
    generate: generateStageConfigSchema,
    evaluate: evaluateStageConfigSchema
      .omit({ dataset: true })
      .default({ sigmas: [0.01, 0.03, 0.05], seed: 0 }),
  })
  .strict();

export type PipelineConfig = z.output<typeof pipelineConfigSchema>;
export type PipelineConfigInput = z.input<typeof pipelineConfigSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Validates a config; the error lists every bad field by its path (e.g. `train.prototype.d`). */
export function parsePipelineConfig(raw: unknown, source = 'config'): PipelineConfig {
  const parsed = pipelineConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(`${source} is not a valid pipeline config:\n${indentedIssues(parsed.error)}`);
  }
  return parsed.data;
}

/** Reads a JSON config file; the error says whether it could not be read or is not JSON. */
export async function readJsonConfig(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${path} is not JSON: ${(err as Error).message}`);
  }
}

/** Reads and validates a JSON config file. */
export async function loadPipelineConfig(path: string): Promise<PipelineConfig> {
  return parsePipelineConfig(await readJsonConfig(path), path);
}
