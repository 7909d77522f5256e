/**
 * Speed of evaluateModels on MNIST (2000 test samples) with trained checkpoints: harvests `runs` runs of a preset
 * (`per` checkpoints each) as the originals, takes as many "generated" models (originals with small weight
 * noise), then times the evaluation with and without the noise baselines.
 *   npx tsx bench/eval-speed.ts [runs=3] [per=20] [preset=mlp]
 */
import { harvestRun, loadMnist, NETWORK_PRESETS } from '@rpg/checkpoint-harvest';
import { loadBackend, Rng, type StateDict, tf } from '@rpg/core';
import { NearestOriginalIndex } from '../src/distances.js';
import { evaluateModels } from '../src/evaluate.js';
import { TestSetPredictor } from '../src/predict-batch.js';

const runs = Number(process.argv[2] ?? 3);
const per = Number(process.argv[3] ?? 20);
const preset = (process.argv[4] ?? 'mlp') as keyof typeof NETWORK_PRESETS;
await loadBackend({ log: null });
const spec = NETWORK_PRESETS[preset];
const dataset = loadMnist({ testSize: 2000 });

let t0 = performance.now();
const originals: StateDict[] = [];
for (let seed = 0; seed < runs; seed++) {
  const r = await harvestRun({ network: spec, seed, epochs: 1, checkpoints: per, dataset });
  originals.push(...r.checkpoints.map((c) => c.stateDict));
}
console.log(
  `harvested ${originals.length} ${preset} checkpoints in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);
const rng = new Rng(7);
const generated = originals.map((sd) => {
  const out: StateDict = new Map();
  for (const [name, e] of sd) {
    if (e.dtype !== 'F32') out.set(name, e);
    else out.set(name, { ...e, data: (e.data as Float32Array).map((v) => v + 0.01 * rng.normal()) });
  }
  return out;
});
const n = generated.length;
const secs = () => ((performance.now() - t0) / 1000).toFixed(2);

// the parts
const predictor = new TestSetPredictor(spec, dataset.test);
predictor.predict(originals.slice(0, 2)); // warm-up
t0 = performance.now();
predictor.predict([...originals, ...generated]);
console.log(
  `predictions, ${2 * n} models × 2000 samples (${predictor.modelsPerBatch} models per pass): ${secs()} s`,
);
predictor.dispose();
t0 = performance.now();
const index = new NearestOriginalIndex(originals);
index.nearest(generated);
index.nearest(originals, (i) => i);
console.log(
  `nearest original for ${n} generated + ${n} originals: ${secs()} s, ${index.exactEvaluations} exact sums (brute force: ${2 * n * n})`,
);
index.dispose();

for (const noiseSigmas of [[], [0.01, 0.03, 0.05]]) {
  t0 = performance.now();
  const r = await evaluateModels({ spec, dataset, originals, generated, noiseSigmas, seed: 1 });
  const evaluated = 2 * n + noiseSigmas.length * n;
  console.log(
    `evaluateModels, ${n} originals + ${n} generated + ${noiseSigmas.length}×${n} noise models (${evaluated}): ${secs()} s; ` +
      `originals avg ${r.originals.avg.toFixed(2)}, generated avg ${r.generated.avg.toFixed(2)}, tensors ${tf.memory().numTensors}`,
  );
}
