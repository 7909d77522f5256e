import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { stableStringify } from '@rpg/core';
import { UsageError } from '@rpg/core/cli-kit';
import { replaceDirAtomically, writeFileAtomic } from '@rpg/core/durable-write';
import { loadTrainState, saveTrainState } from './generator-files.js';
import type { TrainState } from './train-generator.js';
import type { ResumeSlot } from './train-job.js';

/** What must match for a resume state to be continued: the data and every setting but the step count. */
export type Fingerprint = Record<string, unknown>;

const RUN_FILE = 'run.json';
const STEP_DIR = /^step-(\d+)$/;

async function latestStepDir(dir: string): Promise<{ name: string; step: number } | undefined> {
  let best: { name: string; step: number } | undefined;
  for (const name of await readdir(dir)) {
    const m = STEP_DIR.exec(name);
    if (m && (!best || Number(m[1]) > best.step)) best = { name, step: Number(m[1]) };
  }
  return best;
}

/**
 * The CLI's resume slot: a plain directory holding `run.json` (the run's fingerprint) and the latest state as
 * `step-NNNNNNNN/`, each written into a temporary sibling and renamed, so it is complete or absent.
 */
export class ResumeDir implements ResumeSlot {
  /** The latest state in the directory (found when opened, then the last one saved): its step and directory. */
  saved: { step: number; path: string } | undefined;

  private constructor(
    readonly dir: string,
    private found: TrainState | undefined,
    saved: { step: number; path: string } | undefined,
  ) {
    this.saved = saved;
  }

  /**
   * Opens `dir` for the run described by `fingerprint`: creates it (with `run.json`), or checks that the run it
   * holds is this one (`nameOf` names a differing key in the error, e.g. as its flag).
   */
  static async open(
    dir: string,
    fingerprint: Fingerprint,
    nameOf: (key: string) => string,
  ): Promise<ResumeDir> {
    let entries: string[];
    try {
      if (!(await stat(dir)).isDirectory()) {
        throw new UsageError(`--resume-dir ${dir} exists and is not a directory`, 'train');
      }
      entries = await readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await mkdir(dir, { recursive: true });
      entries = [];
    }
    const runFile = join(dir, RUN_FILE);
    if (!entries.includes(RUN_FILE)) {
      if (entries.length > 0) {
        throw new UsageError(
          `--resume-dir ${dir} is not empty and holds no resume state (no ${RUN_FILE}); give a new or empty directory`,
          'train',
        );
      }
      await writeFileAtomic(runFile, `${JSON.stringify(fingerprint, null, 1)}\n`);
      return new ResumeDir(dir, undefined, undefined);
    }
    const saved = JSON.parse(await readFile(runFile, 'utf8')) as Fingerprint;
    const keys = new Set([...Object.keys(saved), ...Object.keys(fingerprint)]);
    const differing = [...keys].filter(
      (k) => stableStringify(saved[k] ?? null) !== stableStringify(fingerprint[k] ?? null),
    );
    if (differing.length > 0) {
      throw new UsageError(
        `--resume-dir ${dir} holds a run with different ${differing.map(nameOf).join(', ')}; ` +
          'run with the same tokens and options (only --steps and --checkpoint-every may change), or give a new --resume-dir',
        'train',
      );
    }
    // Leftovers of a save that was cut short.
    for (const name of entries) {
      if (/^step-\d+\.tmp-/.test(name)) await rm(join(dir, name), { recursive: true, force: true });
    }
    const latest = await latestStepDir(dir);
    if (!latest) return new ResumeDir(dir, undefined, undefined);
    const path = join(dir, latest.name);
    const state = await loadTrainState(path);
    return new ResumeDir(dir, state, { step: state.step, path });
  }

  async latest(): Promise<TrainState | undefined> {
    return this.found;
  }

  /** Saves `state` as `step-NNNNNNNN/`, then removes the older states. */
  async save(state: TrainState): Promise<void> {
    const target = join(this.dir, `step-${String(state.step).padStart(8, '0')}`);
    await replaceDirAtomically(target, (tmp) => saveTrainState(tmp, state));
    for (const entry of await readdir(this.dir)) {
      const m = STEP_DIR.exec(entry);
      if (m && Number(m[1]) < state.step) await rm(join(this.dir, entry), { recursive: true, force: true });
    }
    this.saved = { step: state.step, path: target };
    this.found = undefined; // the job reads the state once; keep no reference to its tensors
  }
}
