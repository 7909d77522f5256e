/**
 * The evaluate stage by the user's command: every original, generated model and noise baseline is handed to
 * `evaluate.command` as a safetensors file; its scores, and the weight-space distances measured here, make the
 * report. Runs one model at a time (the command may use a GPU or every core itself).
 */
import { existsSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { withScratchDir } from '@rpg/checkpoint-harvest';
import {
  type ArtifactRef,
  type ArtifactStore,
  type ProgressSink,
  type StateDict,
  sha256File,
  silentProgress,
  writeSafetensorsFile,
} from '@rpg/core';
import { z } from 'zod';
import { readModelCollection } from './collection.js';
import { type CommandScore, evaluateCommandFields, runEvaluateCommand } from './command-evaluate.js';
import { buildCommandReport } from './command-report.js';
import { NearestOriginalIndex } from './distances.js';
import { describeNonFinite, nonFiniteModels } from './finite.js';
import { assertSameLayout } from './model-tensors.js';
import { fitNoiseStats, noiseModel } from './noise-baseline.js';
import { writeReport } from './report-html.js';
import { baselineFields, type EvaluateStageInput, evaluatedRefs, trainingLossOf } from './stage.js';

export const evaluateByCommandConfigSchema = z
  .object({
    command: evaluateCommandFields.command,
    metric: evaluateCommandFields.metric.default('accuracy'),
    timeoutSeconds: evaluateCommandFields.timeoutSeconds.default(600),
    cwd: evaluateCommandFields.cwd.optional(),
    ...baselineFields,
  })
  .strict();
export type EvaluateByCommandConfigInput = z.input<typeof evaluateByCommandConfigSchema>;

/** The files the command names (its script, say), by content: a changed script makes a new report. */
async function commandFiles(argv: readonly string[], cwd: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const arg of argv) {
    const path = resolve(cwd, arg);
    if (arg.includes('{') || !existsSync(path) || !statSync(path).isFile()) continue;
    out[arg] = await sha256File(path);
  }
  return out;
}

export async function evaluateByCommandStage(
  ctx: { store: ArtifactStore; progress?: ProgressSink; signal?: AbortSignal },
  input: EvaluateStageInput<EvaluateByCommandConfigInput>,
): Promise<ArtifactRef> {
  const config = evaluateByCommandConfigSchema.parse(input.config);
  const { store } = ctx;
  const progress = ctx.progress ?? silentProgress;
  const cwd = config.cwd ?? process.cwd();
  const command = { ...config, cwd };
  const key = { ...config, cwd: undefined, files: await commandFiles(config.command, cwd) };
  const inputs = evaluatedRefs(input);
  return store.put({ kind: 'report', stage: 'evaluate-command', config: key, inputs }, async (dir) => {
    const started = performance.now();
    const originals = await readModelCollection((await store.get(input.originals)).dir);
    const generated = await readModelCollection((await store.get(input.generated)).dir);
    const reference = originals.stateDicts[0]!;
    for (const [i, sd] of originals.stateDicts.entries()) assertSameLayout(reference, sd, `original ${i}`);
    for (const [i, sd] of generated.stateDicts.entries())
      assertSameLayout(reference, sd, `generated model ${i}`);
    const broken = nonFiniteModels(generated.stateDicts);
    const skipped = new Set(broken.map((m) => m.index));
    const scored = generated.stateDicts.map((_, i) => i).filter((i) => !skipped.has(i));
    const noisePerSigma = config.noisePerSigma ?? Math.max(1, scored.length);
    const total = originals.files.length + scored.length + config.sigmas.length * noisePerSigma;
    let step = 0;
    const score = async (file: string, model: string, what: string): Promise<CommandScore> => {
      const out = await runEvaluateCommand(command, file, model, what, ctx.signal);
      progress({ stage: 'evaluate', step: ++step, total, note: what });
      return out;
    };

    const origScores: CommandScore[] = [];
    for (const [i, file] of originals.files.entries())
      origScores.push(await score(file, `original-${i}`, `original ${i}`));
    const genScores = [];
    for (const i of scored)
      genScores.push({
        index: i,
        score: await score(generated.files[i]!, `generated-${i}`, `generated model ${i}`),
      });

    const index = new NearestOriginalIndex(originals.stateDicts);
    try {
      const space = { stats: fitNoiseStats(originals.stateDicts) };
      const noise = await withScratchDir(async (scratch) => {
        const out = [];
        for (const sigma of config.sigmas) {
          const models = [];
          for (let k = 0; k < noisePerSigma; k++) {
            const { model, source } = noiseModel({
              originals: originals.stateDicts,
              sigma,
              index: k,
              count: noisePerSigma,
              seed: config.seed,
              space,
            });
            const file = join(scratch, `noise-${sigma}-${k}.safetensors`);
            await writeSafetensorsFile(file, model as StateDict);
            const label = `noise-${sigma}-${k}`;
            const s = await score(file, label, `noise baseline σ=${sigma} #${k}`);
            await rm(file);
            models.push({ source, score: s, nearestL2: index.nearest([model])[0]?.distance ?? 0 });
          }
          out.push({ sigma, models });
        }
        return out;
      });
      const nearest = index.nearest(scored.map((i) => generated.stateDicts[i]!));
      const report = buildCommandReport({
        metric: config.metric,
        originals: origScores,
        generated: genScores,
        noise,
        nearestOriginal: nearest.map((r, k) => ({
          index: scored[k]!,
          original: r?.index ?? null,
          distance: r?.distance ?? null,
        })),
        originalSpacing:
          originals.stateDicts.length >= 2
            ? index.nearest(originals.stateDicts, (i) => i).map((r) => r!.distance)
            : null,
        nonFinite: broken,
        notes: broken.map(
          (m) => `generated model ${m.index} has non-finite parameters (${describeNonFinite(m)}): not scored`,
        ),
        evaluateSeconds: (performance.now() - started) / 1000,
        trainingLoss: input.generator
          ? await trainingLossOf((await store.get(input.generator)).dir)
          : undefined,
        stageSeconds: {
          ...(input.stageSeconds ?? {}),
          evaluate: (performance.now() - started) / 1000,
        },
        title: config.title,
        config: {
          ...(input.pipelineConfig === undefined ? {} : { pipeline: input.pipelineConfig }),
          command: config.command,
          seed: config.seed,
        },
      });
      await writeReport(dir, report);
    } finally {
      index.dispose();
    }
  });
}
