/**
 * A pipeline whose checkpoints come from outside (e.g. a PyTorch zoo): `source` replaces the data set, harvest and
 * runs sections, and `evaluate.command` scores the models (there is no built-in network to run them). The rest is
 * the pipeline's own sections.
 */
import { dirname, resolve } from 'node:path';
import { importSourceSchema } from '@rpg/checkpoint-harvest';
import { evaluateByCommandConfigSchema } from '@rpg/evaluator';
import type { z } from 'zod';
import {
  ConfigError,
  indentedIssues,
  type PipelineConfig,
  parsePipelineConfig,
  pipelineConfigSchema,
} from './pipeline-config.js';

export const importPipelineConfigSchema = pipelineConfigSchema
  .omit({ dataset: true, runs: true, harvest: true, evaluate: true })
  .extend({
    /** The checkpoints, and how they group into runs. */
    source: importSourceSchema,
    evaluate: evaluateByCommandConfigSchema.omit({ title: true }),
  })
  .strict();
export type ImportPipelineConfig = z.output<typeof importPipelineConfigSchema>;

/** Either pipeline: harvested checkpoints (`dataset` + `harvest`) or imported ones (`source`). */
export type AnyPipelineConfig = PipelineConfig | ImportPipelineConfig;

/** An imported pipeline is told apart by its `source` section. */
export const isImportConfig = (raw: unknown): boolean =>
  typeof raw === 'object' && raw !== null && 'source' in raw;

export const isImported = (config: AnyPipelineConfig): config is ImportPipelineConfig => 'source' in config;

/** Validates either pipeline config; the error lists every bad field by its path. */
export function parseAnyPipelineConfig(raw: unknown, source = 'config'): AnyPipelineConfig {
  if (!isImportConfig(raw)) return parsePipelineConfig(raw, source);
  const parsed = importPipelineConfigSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  throw new ConfigError(
    `${source} is not a valid pipeline config with a checkpoint source:\n${indentedIssues(parsed.error)}`,
  );
}

/**
 * A config's relative paths made absolute from the directory of its file (`configPath`): the source's
 * checkpoints, and the directory `evaluate.command` runs in (default: that directory itself), so the workers
 * find them whatever their own working directory.
 */
export function withPathsFrom(config: AnyPipelineConfig, configPath: string): AnyPipelineConfig {
  const dir = dirname(resolve(configPath));
  const evaluate = config.evaluate.command
    ? { ...config.evaluate, cwd: resolve(dir, config.evaluate.cwd ?? '.') }
    : config.evaluate;
  if (!isImported(config)) return { ...config, evaluate } as PipelineConfig;
  const { checkpoints } = config.source;
  const absolute =
    typeof checkpoints === 'string' ? resolve(dir, checkpoints) : checkpoints.map((p) => resolve(dir, p));
  return { ...config, source: { ...config.source, checkpoints: absolute }, evaluate } as ImportPipelineConfig;
}
