import { sha256Hex, stableStringify } from '@rpg/core';
import { importPipelineConfigSchema, isImportConfig } from './import-config.js';
import { pipelineConfigSchema } from './pipeline-config.js';
import type { UnseenConfig } from './unseen-config.js';

const idOf = (name: string, basis: unknown) =>
  `rpg-${name}-${sha256Hex(stableStringify(basis)).slice(0, 16)}`;

/**
 * `rpg-<name>-<16 hex digits>`, a hash of the config with its defaults filled in: the same experiment always maps
 * to the same workflow, so starting it again attaches instead of running it twice. A config that does not
 * validate is hashed as given (its run fails at once).
 */
export function pipelineWorkflowId(config: unknown): string {
  const parsed = (isImportConfig(config) ? importPipelineConfigSchema : pipelineConfigSchema).safeParse(
    config,
  );
  return parsed.success ? idOf(parsed.data.name, parsed.data) : idOf('invalid', config);
}

/** The same for a validated unseen-task config (its hash can never equal a pipeline config's). */
export function unseenWorkflowId(config: UnseenConfig): string {
  return idOf(config.name, { unseen: config });
}
