import { type Dataset, type NetworkSpec, predict, syntheticDataset } from '@rpg/checkpoint-harvest';
import { randomModel, twoConvCnn, twoStageResnet } from '@rpg/checkpoint-harvest/test-fixtures';
import { loadBackend, tf } from '@rpg/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { predictModels, TestSetPredictor } from '../src/predict-batch.js';

const MLP: NetworkSpec = { type: 'mlp', sizes: [64, 24, 16, 5] };
const CNN = twoConvCnn([8, 8, 1], [4, 6], 5);
const RESNET = twoStageResnet([8, 8, 1], [4, 6], 5);
/** Running statistics and the first BatchNorm's shift drawn afresh. */
const STATISTICS = { shift: /running_mean$|bn1\.bias$/, scale: /running_var$/ };

let data: Dataset;
beforeAll(async () => {
  await loadBackend({ log: null });
  data = syntheticDataset({ seed: 1, inputShape: [8, 8, 1], numClasses: 5, trainSize: 10, testSize: 500 });
});

describe('TestSetPredictor', () => {
  for (const spec of [MLP, CNN, RESNET]) {
    it(`gives checkpoint-harvest's predictions for every ${spec.type} model, in batches`, () => {
      const models = Array.from({ length: 7 }, (_, i) => randomModel(spec, 10 + i, STATISTICS));
      const expected = models.map((sd) => predict(spec, sd, data.test.x, data.test.n));
      const before = tf.memory().numTensors;
      // 7 models in stacks of 3 (3 + 3 + 1), 500 samples in chunks of 130 (130·3 + 110)
      const predictor = new TestSetPredictor(spec, data.test, { modelsPerBatch: 3, batchSize: 130 });
      expect(predictor.modelsPerBatch).toBe(spec.type === 'mlp' ? 3 : 1);
      const got = predictor.predict(models);
      predictor.dispose();
      expect(tf.memory().numTensors).toBe(before);
      expect(got).toEqual(expected);
      // not every model predicts the same (the test would not tell models apart otherwise)
      expect(new Set(got.map((p) => p.join(''))).size).toBeGreaterThan(2);
      expect(predictModels(spec, models.slice(2, 4), data.test)).toEqual(expected.slice(2, 4));
    });
  }

  it('rejects a model that does not fit the network, and use after dispose', () => {
    const good = randomModel(MLP, 1, STATISTICS);
    const bad = new Map(good);
    bad.delete('4.bias');
    const wrongShape = new Map(good);
    wrongShape.set('2.weight', { dtype: 'F32', shape: [16, 25], data: new Float32Array(400) });
    const p = new TestSetPredictor(MLP, data.test);
    expect(() => p.predict([good, bad])).toThrow(
      /model 1 does not fit the mlp 64-24-16-5: lacks tensor '4\.bias'/,
    );
    expect(() => p.predict([wrongShape])).toThrow(
      /tensor '2\.weight' has shape \[16,25\], the network needs \[16,24\]/,
    );
    p.dispose();
    expect(() => p.predict([good])).toThrow(/disposed/);
    expect(() => new TestSetPredictor({ type: 'mlp', sizes: [10, 5] }, data.test)).toThrow(
      /x has 32000 values/,
    );
  });
});
