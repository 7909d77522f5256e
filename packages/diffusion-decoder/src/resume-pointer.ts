import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type ArtifactRef,
  type ArtifactStore,
  ArtifactRef as artifactRefSchema,
  pruneTrainStates,
  writeFileAtomic,
} from '@rpg/core';
import { loadTrainState, saveTrainState } from './generator-files.js';
import type { ResumeSlot } from './train-job.js';

export interface TrainHooks {
  /** Continue from this resume checkpoint (a `train-state` artifact) instead of the latest one recorded. */
  resume?: ArtifactRef;
  /** Called after each resume checkpoint is durably stored. */
  onCheckpoint?: (ref: ArtifactRef, step: number, loss: number) => Promise<void> | void;
  /** Called once when training continues from a resume checkpoint. */
  onResume?: (step: number) => void;
}

/** Where the latest resume checkpoint of a training run is recorded (a pointer file beside the artifacts). */
function resumePointer(store: ArtifactStore, key: string): string {
  return join(store.root, 'resume', `${key}.json`);
}

/**
 * The latest resume checkpoint of a training run, if one was recorded. A pointer that cannot be read, or that
 * names an artifact the store does not hold, is an error: silently starting again from step 0 would throw away
 * the work it points to.
 */
async function readResumePointer(store: ArtifactStore, key: string): Promise<ArtifactRef | undefined> {
  const path = resumePointer(store, key);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const damaged = (why: string) =>
    new Error(
      `the resume pointer ${path} ${why}. Delete it to train again from step 0, or restore it to continue ` +
        'from its checkpoint',
    );
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw damaged('is not valid JSON');
  }
  const ref = artifactRefSchema.safeParse(raw);
  if (!ref.success) throw damaged('is not an artifact reference');
  if (!(await store.has(ref.data))) throw damaged(`names ${ref.data.uri}, which the store does not hold`);
  return ref.data;
}

async function writeResumePointer(store: ArtifactStore, key: string, ref: ArtifactRef): Promise<void> {
  const path = resumePointer(store, key);
  await mkdir(join(store.root, 'resume'), { recursive: true });
  await writeFileAtomic(path, JSON.stringify(ref));
}

/**
 * The pipeline's resume slot of the training run `key` (of `tokens`): each state a `train-state` artifact, the
 * latest one named by a pointer file beside the artifacts (or by `hooks.resume`, a retry's last heartbeat).
 */
export function storeResumeSlot(
  store: ArtifactStore,
  key: string,
  tokens: ArtifactRef,
  hooks: TrainHooks = {},
): ResumeSlot {
  return {
    async latest() {
      const ref = hooks.resume ?? (await readResumePointer(store, key));
      return ref ? loadTrainState((await store.get(ref)).dir) : undefined;
    },
    async save(s) {
      const ref = await store.put(
        { kind: 'train-state', stage: 'train-state', config: { train: key, step: s.step }, inputs: [tokens] },
        (d) => saveTrainState(d, s),
      );
      await writeResumePointer(store, key, ref);
      await pruneTrainStates(store, key); // only the latest few are ever resumed from
      await hooks.onCheckpoint?.(ref, s.step, s.lossHistory.at(-1) ?? Number.NaN);
    },
  };
}
