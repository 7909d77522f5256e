import { sha256Hex, stableStringify } from '@rpg/core';
import { pipelineConfigSchema } from './pipeline-config.js';

/**
 * `rpg-<name>-<16 hex digits>`, a hash of the config with its defaults filled in: the same experiment always maps
 * to the same workflow, so starting it again attaches instead of running it twice. A config that does not
 * validate is hashed as given (its run fails at once).
 */
export function pipelineWorkflowId(config: unknown): string {
  const parsed = pipelineConfigSchema.safeParse(config);
  const basis = parsed.success ? parsed.data : config;
  const name = parsed.success ? parsed.data.name : 'invalid';
  return `rpg-${name}-${sha256Hex(stableStringify(basis)).slice(0, 16)}`;
}
