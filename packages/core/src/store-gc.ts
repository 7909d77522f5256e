/**
 * Pruning and garbage collection of an {@link ArtifactStore}'s resume states. Generator training stores a
 * `train-state` artifact (config `{ train: <training key>, step }`) every `checkpointEvery` steps; only the latest
 * is ever resumed from, and none once its training has finished (its `generator` artifact, of the same key,
 * exists). Stage outputs are never removed here: any config that made them may be run again and reuse them.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { ArtifactStore } from './artifact-store.js';
import { formatBytes } from './json-file.js';

/** Resume states kept per training while it runs: the latest is the one resumed from, the others spare it. */
export const KEEP_TRAIN_STATES = 3;
/** The kind of a resume state, and of what a finished training leaves. */
export const TRAIN_STATE_KIND = 'train-state';
export const GENERATOR_KIND = 'generator';
/** Temp dirs of puts younger than this may belong to a put running now. */
const TMP_GRACE_MS = 3_600_000;

interface StoredState {
  key: string;
  dir: string;
  train: string;
  step: number;
  bytes: number;
}

/** Something gc removes, and why. */
export interface GcItem {
  path: string;
  bytes: number;
  why: string;
}

/** Every resume state in the store whose manifest can be read (others are left alone: a person should look). */
async function listTrainStates(store: ArtifactStore): Promise<StoredState[]> {
  const kindDir = path.join(store.root, TRAIN_STATE_KIND);
  const keys = await fs.readdir(kindDir).catch(() => [] as string[]);
  const out: StoredState[] = [];
  for (const key of keys) {
    const dir = path.join(kindDir, key);
    try {
      const manifest = JSON.parse(await fs.readFile(path.join(dir, 'manifest.json'), 'utf8')) as {
        config?: { train?: unknown; step?: unknown };
        files?: { bytes?: number }[];
      };
      const { train, step } = manifest.config ?? {};
      if (typeof train !== 'string' || typeof step !== 'number') continue;
      const bytes = (manifest.files ?? []).reduce((n, f) => n + (f.bytes ?? 0), 0);
      out.push({ key, dir, train, step, bytes });
    } catch {
      // unreadable or half-removed: not ours to judge
    }
  }
  return out;
}

/** Removes an artifact directory: renamed into the store's temp dir first, so no reader sees half of it. */
async function removeDir(store: ArtifactStore, dir: string): Promise<void> {
  const tmpRoot = path.join(store.root, '.tmp');
  await fs.mkdir(tmpRoot, { recursive: true });
  const target = path.join(tmpRoot, `gc-${path.basename(dir)}-${process.pid}-${Date.now()}`);
  try {
    await fs.rename(dir, target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // removed already
    throw err;
  }
  await fs.rm(target, { recursive: true, force: true });
}

/** The resume pointer generator training keeps for training `train` (see the train stage). */
function resumePointerOf(store: ArtifactStore, train: string): string {
  return path.join(store.root, 'resume', `${train}.json`);
}

/**
 * Keeps the latest `keep` resume states of training `train` and removes the older ones. Called by the train stage
 * after each durable checkpoint, so a long run holds `keep` states, not one per checkpoint. Returns how many went.
 */
export async function pruneTrainStates(
  store: ArtifactStore,
  train: string,
  keep = KEEP_TRAIN_STATES,
): Promise<number> {
  const mine = (await listTrainStates(store))
    .filter((s) => s.train === train)
    .sort((a, b) => b.step - a.step);
  const old = mine.slice(Math.max(1, keep));
  for (const s of old) await removeDir(store, s.dir);
  return old.length;
}

/**
 * What `rpg gc` removes: resume states of trainings that finished (their generator exists) and their resume
 * pointers; of unfinished (running or resumable) trainings, all but the latest {@link KEEP_TRAIN_STATES}; temp
 * dirs of puts that died more than an hour ago. Never a stage output, never a state a training may resume from.
 */
export async function planGc(store: ArtifactStore): Promise<GcItem[]> {
  const items: GcItem[] = [];
  const byTrain = new Map<string, StoredState[]>();
  for (const s of await listTrainStates(store)) byTrain.set(s.train, [...(byTrain.get(s.train) ?? []), s]);
  for (const [train, states] of byTrain) {
    const finished = await store.find(GENERATOR_KIND, train).catch(() => undefined);
    const sorted = states.sort((a, b) => b.step - a.step);
    const drop = finished ? sorted : sorted.slice(KEEP_TRAIN_STATES);
    for (const s of drop) {
      items.push({
        path: s.dir,
        bytes: s.bytes,
        why: finished
          ? `resume state at step ${s.step} of a finished training`
          : `resume state at step ${s.step}, older than the latest ${KEEP_TRAIN_STATES} of its training`,
      });
    }
  }
  const pointers = await fs.readdir(path.join(store.root, 'resume')).catch(() => [] as string[]);
  for (const name of pointers) {
    const train = name.replace(/\.json$/, '');
    if (name === train || !(await store.find(GENERATOR_KIND, train).catch(() => undefined))) continue;
    items.push({
      path: resumePointerOf(store, train),
      bytes: 0,
      why: 'resume pointer of a finished training',
    });
  }
  const tmpRoot = path.join(store.root, '.tmp');
  for (const name of await fs.readdir(tmpRoot).catch(() => [] as string[])) {
    const entry = path.join(tmpRoot, name);
    const info = await fs.lstat(entry).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > TMP_GRACE_MS)
      items.push({ path: entry, bytes: info.size, why: 'left over by an interrupted write' });
  }
  return items;
}

/** Removes what {@link planGc} listed. */
export async function applyGc(store: ArtifactStore, items: readonly GcItem[]): Promise<void> {
  for (const item of items) {
    if (item.path.startsWith(path.join(store.root, TRAIN_STATE_KIND) + path.sep))
      await removeDir(store, item.path);
    else await fs.rm(item.path, { recursive: true, force: true });
  }
}

/** `3 items, 120.5 MB`. */
export function describeGc(items: readonly GcItem[]): string {
  const bytes = items.reduce((n, i) => n + i.bytes, 0);
  return `${items.length} item${items.length === 1 ? '' : 's'}, ${formatBytes(bytes)}`;
}
