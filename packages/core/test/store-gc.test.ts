import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactStore } from '../src/artifact-store.js';
import type { ArtifactRef } from '../src/manifest.js';
import { formatProgressLine } from '../src/progress.js';
import { applyGc, describeGc, KEEP_TRAIN_STATES, planGc, pruneTrainStates } from '../src/store-gc.js';

let root = '';
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'rpg-gc-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A resume state of training `train` at `step`, as the train stage stores it. */
async function putState(store: ArtifactStore, train: string, step: number): Promise<ArtifactRef> {
  return store.put(
    { kind: 'train-state', stage: 'train-state', config: { train, step }, inputs: [] },
    (dir) => writeFile(join(dir, 'state.bin'), Buffer.alloc(1000, step)),
  );
}

const statesOf = async (store: ArtifactStore) => (await readdir(join(store.root, 'train-state'))).length;

describe('resume states', () => {
  it('pruneTrainStates keeps the latest few of one training and leaves other trainings alone', async () => {
    const store = new ArtifactStore(join(root, 'prune'));
    const refs = [];
    for (let step = 10; step <= 60; step += 10) refs.push(await putState(store, 'a', step));
    const other = await putState(store, 'b', 5);
    expect(await pruneTrainStates(store, 'a')).toBe(6 - KEEP_TRAIN_STATES);
    for (const [i, ref] of refs.entries()) expect(await store.has(ref)).toBe(i >= 6 - KEEP_TRAIN_STATES);
    expect(await store.has(other)).toBe(true);
    expect(await pruneTrainStates(store, 'a')).toBe(0);
  });

  it('gc lists the states of finished trainings, the surplus of unfinished ones and old temp dirs; a dry run removes nothing', async () => {
    const store = new ArtifactStore(join(root, 'gc'));
    // A finished training: its generator has the training's key.
    const generator = await store.put({ kind: 'generator', stage: 'train', config: {}, inputs: [] }, (dir) =>
      writeFile(join(dir, 'g.bin'), 'g'),
    );
    const doneKey = generator.uri.split('/')[1]!;
    const finished = [await putState(store, doneKey, 100), await putState(store, doneKey, 200)];
    await mkdir(join(store.root, 'resume'), { recursive: true });
    await writeFile(join(store.root, 'resume', `${doneKey}.json`), JSON.stringify(finished[1]));
    // Training "live" is running or resumable: 5 states, its pointer on the latest.
    const live = [];
    for (let step = 1; step <= 5; step++) live.push(await putState(store, 'live', step));
    await writeFile(join(store.root, 'resume', 'live.json'), JSON.stringify(live[4]));
    // Temp dirs: one from a write that died two hours ago, one that may be running now.
    await mkdir(join(store.root, '.tmp', 'old'), { recursive: true });
    await mkdir(join(store.root, '.tmp', 'fresh'), { recursive: true });
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await utimes(join(store.root, '.tmp', 'old'), twoHoursAgo, twoHoursAgo);

    const plan = await planGc(store);
    expect(plan.map((i) => [i.path.slice(store.root.length + 1), i.why])).toEqual(
      expect.arrayContaining([
        [`train-state/${finished[0]!.uri.split('/')[1]}`, 'resume state at step 100 of a finished training'],
        [`train-state/${finished[1]!.uri.split('/')[1]}`, 'resume state at step 200 of a finished training'],
        [
          `train-state/${live[0]!.uri.split('/')[1]}`,
          'resume state at step 1, older than the latest 3 of its training',
        ],
        [
          `train-state/${live[1]!.uri.split('/')[1]}`,
          'resume state at step 2, older than the latest 3 of its training',
        ],
        [`resume/${doneKey}.json`, 'resume pointer of a finished training'],
        ['.tmp/old', 'left over by an interrupted write'],
      ]),
    );
    expect(plan).toHaveLength(6);
    expect(describeGc(plan)).toMatch(/^6 items, \d+\.\d KB$/);
    expect(await statesOf(store)).toBe(7); // planning removed nothing

    await applyGc(store, plan);
    expect(await statesOf(store)).toBe(3);
    for (const ref of live.slice(2)) expect(await store.has(ref)).toBe(true);
    expect(await store.has(generator)).toBe(true);
    expect(await readdir(join(store.root, 'resume'))).toEqual(['live.json']);
    expect(await readdir(join(store.root, '.tmp'))).toEqual(['fresh']);
    expect(await planGc(store)).toEqual([]);
  });
});

describe('progress line after a resume', () => {
  it('estimates the time left from the steps done in this attempt', () => {
    // Resumed at 400 of 1000; 100 steps in 50 s: the 500 left take 250 s, not (50 / 500) · 500 = 50 s.
    const line = formatProgressLine({ stage: 'train', step: 500, total: 1000 }, 50, 10, 400);
    expect(line).toContain('0:50<4:10');
    expect(formatProgressLine({ stage: 'train', step: 500, total: 1000 }, 50, 10)).toContain('0:50<0:50');
    expect(formatProgressLine({ stage: 'train', step: 400, total: 1000 }, 5, 10, 400)).toContain(
      '0:05<--:--',
    );
  });
});
