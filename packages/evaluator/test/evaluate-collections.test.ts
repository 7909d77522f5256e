import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  accuracy,
  type CheckpointsMeta,
  type Dataset,
  initStateDict,
  type NetworkSpec,
  syntheticDataset,
  writeCheckpoint,
  writeCheckpointsMeta,
} from '@rpg/checkpoint-harvest';
import { loadBackend, Rng, type StateDict, tf, writeSafetensorsFile } from '@rpg/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { mnistSplitOf, readModelCollection, resolveNetwork } from '../src/collection.js';
import { evaluateCollections } from '../src/evaluate-collections.js';
import { parseReport } from '../src/report-schema.js';

const spec: NetworkSpec = { type: 'mlp', sizes: [6, 8, 3] };
let data: Dataset;
let root: string;
let originals: StateDict[];
let generated: StateDict[];

/** Writes a checkpoints directory; `accuracies[i]` is what checkpoints.json records for model i. */
async function writeCollection(
  dir: string,
  models: StateDict[],
  opts: { network: NetworkSpec | null; dataset: string | null; accuracies: (number | null)[] },
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const meta: CheckpointsMeta = {
    format: 'rpg-checkpoints',
    version: 1,
    network: opts.network,
    dataset: opts.dataset,
    runs: [{ seed: 0 }],
    checkpoints: models.map((_, i) => ({
      file: `model-${i}.safetensors`,
      run: 0,
      index: i,
      step: null,
      testAccuracy: opts.accuracies[i] ?? null,
    })),
  };
  for (const [i, sd] of models.entries()) await writeCheckpoint(dir, meta.checkpoints[i]!.file, sd);
  await writeCheckpointsMeta(dir, meta);
}

beforeAll(async () => {
  await loadBackend({ log: null });
  data = syntheticDataset({ seed: 2, inputDim: 6, numClasses: 3, trainSize: 30, testSize: 400 });
  root = await mkdtemp(join(tmpdir(), 'rpg-collections-'));
  originals = [1, 2, 3, 4].map((s) => initStateDict(spec, new Rng(s)));
  generated = [5, 6].map((s) => initStateDict(spec, new Rng(s)));
  const recorded = originals.map((sd) => accuracy(spec, sd, data.test));
  recorded[2] = recorded[2]! + 5; // a recorded accuracy this evaluation will not reproduce
  await writeCollection(join(root, 'orig'), originals, {
    network: spec,
    dataset: data.name,
    accuracies: recorded,
  });
  await writeCollection(join(root, 'gen'), generated, {
    network: spec,
    dataset: 'another-split',
    accuracies: [],
  });
  // plain safetensors, natural order: m2 before m10
  await mkdir(join(root, 'plain'), { recursive: true });
  await writeSafetensorsFile(join(root, 'plain', 'm10.safetensors'), generated[1]!);
  await writeSafetensorsFile(join(root, 'plain', 'm2.safetensors'), generated[0]!);
});

describe('evaluateCollections', () => {
  it('reads checkpoints directories, evaluates and writes report.json and report.html', async () => {
    const before = tf.memory().numTensors;
    const out = join(root, 'report');
    const trainingLoss = Array.from({ length: 50 }, (_, i) => ({ step: 10 * (i + 1), loss: 1 / (i + 1) }));
    const report = await evaluateCollections({
      originalsDir: join(root, 'orig'),
      generatedDir: join(root, 'gen'),
      outDir: out,
      dataset: data,
      seed: 3,
      sigmas: [0.01, 0.05],
      noisePerSigma: 2,
      trainingLoss,
      stageSeconds: { harvest: 2, train: 5 },
      title: 'tiny test',
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(report.network).toEqual(spec); // from checkpoints.json
    expect(report.originals.all).toEqual(originals.map((sd) => accuracy(spec, sd, data.test)));
    expect(report.generated.all).toEqual(generated.map((sd) => accuracy(spec, sd, data.test)));
    expect(report.noise.map((n) => n.all.length)).toEqual([2, 2]);
    expect(report.trainingLoss).toEqual(trainingLoss);
    expect(report.title).toBe('tiny test');
    expect(Object.keys(report.stageSeconds!)).toEqual(['harvest', 'train', 'evaluate']);
    expect(report.stageSeconds!.evaluate).toBeGreaterThan(0);
    expect(report.notes).toHaveLength(2);
    expect(report.notes![0]).toMatch(
      /1 of the originals in .*orig measure a test accuracy other than .*model-2\.safetensors/,
    );
    expect(report.notes![1]).toMatch(
      /generated models in .*gen record data set another-split; this evaluation uses synthetic/,
    );
    expect(report.config).toMatchObject({ originals: { count: 4 }, generated: { count: 2 }, seed: 3 });

    expect(parseReport(JSON.parse(await readFile(join(out, 'report.json'), 'utf8')))).toEqual(report);
    const html = await readFile(join(out, 'report.html'), 'utf8');
    expect(html).toContain('<h1>tiny test</h1>');
    expect(html.match(/<svg /g)).toHaveLength(3); // accuracy strip, frontier, training loss
    expect(html).toContain('Training loss');
    expect(html).toContain('<tr><th>evaluate</th>');
  });

  it('takes plain safetensors with a given network, and refuses a network the collection contradicts', async () => {
    const out = join(root, 'report2');
    const report = await evaluateCollections({
      originalsDir: join(root, 'orig'),
      generatedDir: join(root, 'plain'),
      outDir: out,
      dataset: data,
      network: spec,
      seed: 1,
      sigmas: [],
    });
    expect(report.generated.all).toEqual(generated.map((sd) => accuracy(spec, sd, data.test)));
    expect(report.notes).toHaveLength(1); // only the wrong recorded accuracy
    expect(report.trainingLoss).toBeUndefined();
    expect(Object.keys(report.stageSeconds!)).toEqual(['evaluate']);
    await expect(
      evaluateCollections({
        originalsDir: join(root, 'orig'),
        generatedDir: join(root, 'gen'),
        outDir: out,
        dataset: data,
        network: { type: 'mlp', sizes: [6, 9, 3] },
        seed: 1,
      }),
    ).rejects.toThrow(
      /network given \(mlp 6-9-3\) differs from the one .*checkpoints\.json records \(mlp 6-8-3\)/,
    );
    await expect(
      evaluateCollections({
        originalsDir: join(root, 'plain'),
        generatedDir: join(root, 'plain'),
        outDir: out,
        dataset: data,
        seed: 1,
      }),
    ).rejects.toThrow(/the network is not known/);
    await expect(
      evaluateCollections({
        originalsDir: '',
        generatedDir: join(root, 'gen'),
        outDir: out,
        dataset: data,
        seed: 1,
      }),
    ).rejects.toThrow(/invalid option "originalsDir"/);
  });
});

describe('readModelCollection', () => {
  it('reads plain directories in natural name order and mixes inputs in the order given', async () => {
    const c = await readModelCollection([join(root, 'plain'), join(root, 'gen')]);
    expect(c.files.map((f) => f.split('/').slice(-2).join('/'))).toEqual([
      'plain/m2.safetensors',
      'plain/m10.safetensors',
      'gen/model-0.safetensors',
      'gen/model-1.safetensors',
    ]);
    expect(c.stateDicts[1]!.get('0.weight')!.data).toEqual(generated[1]!.get('0.weight')!.data);
    expect(c.sources).toHaveLength(1);
    expect(c.sources[0]!.offset).toBe(2);
    expect(resolveNetwork(undefined, [c])).toEqual(spec);
    await expect(readModelCollection(join(root, 'nope'))).rejects.toThrow(/cannot read .*nope: no such file/);
    await expect(readModelCollection(root)).rejects.toThrow(
      /has neither checkpoints\.json nor \.safetensors files/,
    );
  });

  it('parses MNIST split names', () => {
    expect(mnistSplitOf('mnist-10k-seed3-test500')).toEqual({ seed: 3, testSize: 500, pool: 1 });
    expect(mnistSplitOf('mnist-10k-seed0-test2000-pool2')).toEqual({ seed: 0, testSize: 2000, pool: 2 });
    expect(mnistSplitOf('synthetic-seed3')).toBeNull();
  });
});
