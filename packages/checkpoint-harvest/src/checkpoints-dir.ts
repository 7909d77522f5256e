import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readSafetensorsFile, type StateDict, writeSafetensorsFile } from '@rpg/core';
import { taskDescriptorSchema } from '@rpg/task-embedding';
import { z } from 'zod';
import { networkSpecSchema } from './networks.js';

/**
 * A collection of checkpoints of one architecture, as a plain directory: `checkpoints.json` (this schema) plus one
 * safetensors file per checkpoint. Harvested, imported and generated parameters all use it, so every stage and
 * CLI reads one format.
 */
export const CHECKPOINTS_FILE = 'checkpoints.json';

export const checkpointEntrySchema = z
  .object({
    /** File name inside the directory (no sub-directories). */
    file: z.string().regex(/^[A-Za-z0-9._-]+\.safetensors$/, 'a plain *.safetensors file name'),
    /** Which run (seed) produced it; generated models use their sample index. */
    run: z.number().int().nonnegative(),
    /** Position within its run. */
    index: z.number().int().nonnegative(),
    /** Optimiser steps when saved, if known. */
    step: z.number().int().nonnegative().nullable(),
    /** Test accuracy in percent, if measured. */
    testAccuracy: z.number().min(0).max(100).nullable(),
    /** The task it was trained (or generated) for, in a collection over several tasks. */
    task: taskDescriptorSchema.optional(),
  })
  .strict();
export type CheckpointEntry = z.infer<typeof checkpointEntrySchema>;

export const checkpointsMetaSchema = z
  .object({
    format: z.literal('rpg-checkpoints'),
    version: z.literal(1),
    /** The architecture, when known (harvested and generated sets; imports given `--network`). */
    network: networkSpecSchema.nullable(),
    /** The data set the accuracies are on, e.g. `mnist`. */
    dataset: z.string().nullable(),
    /** Free-form per-run facts (seed, converged accuracy, seconds, loss history). */
    runs: z.array(z.record(z.string(), z.json())),
    checkpoints: z.array(checkpointEntrySchema).min(1),
  })
  .strict();
export type CheckpointsMeta = z.infer<typeof checkpointsMetaSchema>;

/** Conventional file name of checkpoint `index` of run `run`. */
export function checkpointFileName(run: number, index: number): string {
  return `run${String(run).padStart(2, '0')}-ckpt${String(index).padStart(3, '0')}.safetensors`;
}

/** Writes the metadata file; the caller has written (or writes) the safetensors files it lists. */
export async function writeCheckpointsMeta(dir: string, meta: CheckpointsMeta): Promise<void> {
  const parsed = checkpointsMetaSchema.parse(meta);
  const files = new Set<string>();
  for (const e of parsed.checkpoints) {
    if (files.has(e.file)) throw new Error(`checkpoint file ${e.file} is listed twice`);
    files.add(e.file);
  }
  await writeFile(join(dir, CHECKPOINTS_FILE), `${JSON.stringify(parsed, null, 1)}\n`);
}

/** Writes one checkpoint file into a checkpoints directory. */
export async function writeCheckpoint(dir: string, file: string, stateDict: StateDict): Promise<void> {
  await writeSafetensorsFile(join(dir, file), stateDict);
}

/** Reads and validates `checkpoints.json`; the error names the file and the field that is wrong. */
export async function readCheckpointsMeta(dir: string): Promise<CheckpointsMeta> {
  const path = join(dir, CHECKPOINTS_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as Error).message} (is ${dir} a checkpoints directory?)`);
  }
  const parsed = checkpointsMetaSchema.safeParse(raw);
  if (!parsed.success)
    throw new Error(`${path} is not a valid checkpoints file:\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** Reads one listed checkpoint. */
export async function readCheckpoint(dir: string, entry: CheckpointEntry): Promise<StateDict> {
  return (await readSafetensorsFile(join(dir, entry.file))).tensors;
}

/** Reads the metadata and every checkpoint, in listed order. */
export async function readCheckpointsDir(
  dir: string,
): Promise<{ meta: CheckpointsMeta; stateDicts: StateDict[] }> {
  const meta = await readCheckpointsMeta(dir);
  const stateDicts: StateDict[] = [];
  for (const entry of meta.checkpoints) stateDicts.push(await readCheckpoint(dir, entry));
  return { meta, stateDicts };
}
