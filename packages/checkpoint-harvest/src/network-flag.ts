import { existsSync } from 'node:fs';
import { readJsonFile } from '@rpg/core';
import { UsageError } from '@rpg/core/cli-kit';
import { NETWORK_PRESETS, type NetworkSpec, parseNetworkSpec } from './networks.js';

/**
 * The network of a `--network` flag: a preset name or a JSON spec file. The errors name the flag, the value and
 * what is wrong (the presets, the unreadable file, the bad field).
 */
export async function networkFromFlag(value: string): Promise<NetworkSpec> {
  // Parsed like a file's spec, so it compares equal to the spec a checkpoints.json records.
  if (Object.hasOwn(NETWORK_PRESETS, value))
    return parseNetworkSpec(NETWORK_PRESETS[value as keyof typeof NETWORK_PRESETS]);
  if (!existsSync(value)) {
    throw new UsageError(
      `--network ${value} is neither a preset (${Object.keys(NETWORK_PRESETS).join(', ')}) nor an existing file`,
    );
  }
  let raw: unknown;
  try {
    raw = await readJsonFile(value, { what: 'network spec' });
  } catch (err) {
    throw new Error(`--network: ${(err as Error).message}`);
  }
  try {
    return parseNetworkSpec(raw);
  } catch (err) {
    throw new Error(`--network ${value}: ${(err as Error).message}`);
  }
}
