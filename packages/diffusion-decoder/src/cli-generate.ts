/** `rpg-diffusion-decoder generate`: new checkpoints from a trained generator, on plain directories. */
import { loadBackend, terminalProgress } from '@rpg/core';
import { Interrupted, onCtrlC, UsageError } from '@rpg/core/cli-kit';
import { assertFreshOutDir, writeDirAtomically } from '@rpg/core/durable-write';
import { isInside } from '@rpg/core/is-inside';
import { loadTokenizerState } from '@rpg/tokenizer';
import { checkpointSink } from './checkpoint-sink.js';
import type { GenerateArgs } from './cli-flags.js';
import { generate } from './generate.js';
import { loadGenerator } from './generator-files.js';
import { disposeGenerator } from './train-generator.js';
import { checkTrainedOn } from './trained-on.js';

export async function runGenerate(a: GenerateArgs): Promise<void> {
  if (a.sampler === 'ddpm') {
    for (const flag of ['steps', 'eta'] as const) {
      if (a[flag] !== undefined) {
        throw new UsageError(`--${flag} applies to --sampler ddim only (DDPM runs all T steps)`, 'generate');
      }
    }
  }
  if (isInside(a.generator, a.out, { orSame: true }) || isInside(a.tokens, a.out, { orSame: true })) {
    throw new UsageError('--out must be a new directory, outside --generator and --tokens', 'generate');
  }
  await assertFreshOutDir(a.out);
  const state = await loadTokenizerState(a.tokens);
  await loadBackend();
  const gen = await loadGenerator(a.generator);
  try {
    const { config } = gen;
    try {
      checkTrainedOn(gen, state, `in ${a.tokens}`);
    } catch (err) {
      throw new UsageError(`${(err as Error).message} (--tokens)`, 'generate');
    }
    const steps = a.sampler === 'ddim' ? (a.steps ?? 60) : undefined;
    if (steps !== undefined && steps > config.schedule.T) {
      throw new UsageError(
        `--steps ${steps} is more than the T = ${config.schedule.T} diffusion steps of the generator`,
        'generate',
      );
    }

    const width = Math.max(3, String(a.count - 1).length);
    const fileOf = (m: number) => `gen-${String(m).padStart(width, '0')}.safetensors`;
    const controller = new AbortController();
    const removeHandler = onCtrlC(controller, 'generation');
    const started = Date.now();
    let states: number[];
    try {
      ({ states } = await writeDirAtomically(a.out, async (tmp) => {
        const sink = checkpointSink(state, tmp, fileOf);
        return generate(gen, {
          count: a.count,
          seed: a.seed,
          sampler: a.sampler,
          ...(steps === undefined ? {} : { steps }),
          ...(a.eta === undefined ? {} : { eta: a.eta }),
          chunkSize: a['chunk-size'],
          ...(a.clip === undefined ? {} : { clip: a.clip }),
          progress: terminalProgress(),
          signal: controller.signal,
          write: sink.write,
        });
      }));
    } catch (err) {
      if (controller.signal.aborted) throw new Interrupted('generation interrupted; nothing was written');
      throw err;
    } finally {
      removeHandler();
    }
    const seconds = (Date.now() - started) / 1000;
    for (const [m, s] of states.entries()) process.stdout.write(`${fileOf(m)}  permutation state ${s}\n`);
    process.stdout.write(
      `generated ${a.count} models (${a.sampler}${steps === undefined ? '' : ` ${steps} steps`}) in ` +
        `${seconds.toFixed(1)} s\nwrote ${a.out}\n`,
    );
  } finally {
    disposeGenerator(gen);
  }
}
