/** `rpg-diffusion-decoder inspect`: what a trained generator is, and whether its weights are finite. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadBackend } from '@rpg/core';
import { z } from 'zod';
import { TRAINING_FILE } from './cli-train.js';
import { nonFiniteWeights } from './generate.js';
import { loadGenerator } from './generator-files.js';
import { disposeGenerator } from './train-generator.js';

const trainingInfoSchema = z.looseObject({
  tokens: z.string().optional(),
  tokenizerSha256: z.string().optional(),
  checkpoints: z.number().optional(),
  states: z.string().optional(),
  steps: z.number().optional(),
  resumedFrom: z.number().optional(),
  lr: z.number().optional(),
  batchSize: z.number().optional(),
  diffusionBatch: z.number().optional(),
  emaDecay: z.number().optional(),
  weightDecay: z.number().optional(),
  seed: z.number().optional(),
  seconds: z.number().optional(),
});

/** `training.json` of a generator directory, when it is there and readable. */
async function readTrainingInfo(dir: string): Promise<z.output<typeof trainingInfoSchema> | undefined> {
  try {
    const parsed = trainingInfoSchema.safeParse(JSON.parse(await readFile(join(dir, TRAINING_FILE), 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export async function runInspect(dir: string): Promise<void> {
  await loadBackend();
  const gen = await loadGenerator(dir);
  try {
    const { config, lossHistory: h } = gen;
    const p = gen.prototype.config;
    const dec = config.decoder;
    const s = config.schedule;
    const protoParams = gen.prototype.parameterCount();
    const decParams = gen.decoder.parameterCount();
    const fmt = (n: number) => n.toLocaleString('en-US');
    const layers = new Set(config.positions.map((q) => q.layerIndex)).size;
    const lines = [
      `generator: ${dir}`,
      `recurrent model: ${p.model}, d ${p.d}, layers ${p.layers}, position ${p.position}` +
        (p.model === 'mamba2'
          ? ` (d_state ${p.dState}, expand ${p.expand}, conv ${p.convWidth}, head dim ${p.headDim}, chunk ${p.chunkSize})`
          : p.model === 'transformer'
            ? ` (heads ${p.heads})`
            : ''),
      `decoder: token size ${dec.tokenSize}, channels ${dec.channels.join(',')}, kernel ${dec.kernel}, conditioning ${dec.conditioning}, prediction ${dec.prediction}`,
      `diffusion: T ${s.T}, linear beta ${s.beta1} -> ${s.betaT}`,
      `tokens: L = ${config.positions.length} in ${layers} layers; permutation states: ${config.numStates}`,
      `parameters: ${fmt(protoParams + decParams)} (recurrent model ${fmt(protoParams)}, decoder ${fmt(decParams)})`,
      `steps trained: ${h.length}`,
    ];
    if (h.length > 0) {
      const recent = h.slice(-50);
      lines.push(
        `last loss: ${h.at(-1)!.toPrecision(4)} (mean of last ${recent.length}: ${(recent.reduce((a, b) => a + b, 0) / recent.length).toPrecision(4)})`,
      );
    } else lines.push('last loss: none recorded');
    const t = await readTrainingInfo(dir);
    if (t) {
      lines.push(
        `training: ${t.checkpoints ?? '?'} checkpoints from ${t.tokens ?? '?'}, states per ${t.states ?? '?'}, ` +
          `lr ${t.lr ?? '?'}, batch ${t.batchSize ?? '?'}, diffusion batch ${t.diffusionBatch ?? '?'}, ` +
          `EMA ${t.emaDecay ?? '?'}, seed ${t.seed ?? '?'}` +
          (t.resumedFrom ? `, resumed from step ${t.resumedFrom}` : '') +
          (t.seconds === undefined ? '' : `, ${t.seconds.toFixed(1)} s`),
      );
    }
    const broken = nonFiniteWeights(gen);
    lines.push(
      broken.length === 0 ? 'weights: all finite' : `weights: NOT FINITE in ${broken.length} tensors`,
    );
    process.stdout.write(`${lines.join('\n')}\n`);
    if (broken.length > 0) {
      throw new Error(
        `${dir}: the generator's weights hold NaN or infinite values (${broken.slice(0, 5).join(', ')}` +
          `${broken.length > 5 ? ', …' : ''}); it cannot generate. Train it again`,
      );
    }
  } finally {
    disposeGenerator(gen);
  }
}
