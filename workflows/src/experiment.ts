import { describeDerived, fillDerivedSizes } from './derived-sizes.js';
import { type AnyPipelineConfig, parseAnyPipelineConfig, withPathsFrom } from './import-config.js';
import { readJsonConfig } from './pipeline-config.js';
import { parseUnseenConfig, type UnseenConfig } from './unseen-config.js';
import { pipelineWorkflowId, unseenWorkflowId } from './workflow-id.js';
import { UNSEEN_WORKFLOW_TYPE, WORKFLOW_TYPE } from './workflows/definitions.js';

/** A validated experiment config: the core pipeline, or an unseen-task experiment. */
export type Experiment =
  | {
      kind: 'pipeline';
      config: AnyPipelineConfig;
      /** The sizes chosen from the target network for the ones the config left out (a line to print). */
      derived?: string;
    }
  | { kind: 'unseen'; config: UnseenConfig };

/** An unseen-task experiment is told apart by its `tasks` section (the core pipeline has none). */
export function isUnseenConfig(raw: unknown): boolean {
  return typeof raw === 'object' && raw !== null && 'tasks' in raw;
}

/** Validates either kind of config; the error lists every bad field by its path. */
export function parseExperiment(raw: unknown, source = 'config'): Experiment {
  return isUnseenConfig(raw)
    ? { kind: 'unseen', config: parseUnseenConfig(raw, source) }
    : pipelineExperiment(raw, source);
}

function pipelineExperiment(raw: unknown, source: string): Experiment {
  const config = parseAnyPipelineConfig(raw, source);
  const { choice } = fillDerivedSizes(raw);
  return { kind: 'pipeline', config, ...(choice ? { derived: describeDerived(choice) } : {}) };
}

/** Reads and validates a JSON config file of either kind. */
export async function loadExperiment(path: string): Promise<Experiment> {
  const experiment = parseExperiment(await readJsonConfig(path), path);
  // Relative paths in a pipeline config are relative to the config file.
  return experiment.kind === 'pipeline'
    ? { ...experiment, config: withPathsFrom(experiment.config, path) }
    : experiment;
}

/** The workflow that runs an experiment of this kind. */
export function workflowTypeOf(experiment: Experiment): string {
  return experiment.kind === 'unseen' ? UNSEEN_WORKFLOW_TYPE : WORKFLOW_TYPE;
}

/** The workflow id of an experiment: the same config always maps to the same workflow (see `pipelineWorkflowId`). */
export function experimentWorkflowId(experiment: Experiment): string {
  return experiment.kind === 'unseen'
    ? unseenWorkflowId(experiment.config)
    : pipelineWorkflowId(experiment.config);
}
