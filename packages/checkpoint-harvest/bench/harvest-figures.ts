/**
 * Measures harvestRun on the MNIST MLP 784-64-10 (adam, lr 1e-3 cosine to finalLr over EPOCHS epochs, then the
 * collection epoch at finalLr, 50 checkpoints): seconds per epoch, converged and checkpoint accuracies, the mean
 * pairwise misclassification IoU between the checkpoints of one run, and between checkpoints of different runs.
 *
 *   SEEDS=0,1,2,3 EPOCHS=3 npx tsx bench/harvest-figures.ts [finalLr ...]   (default: 1e-4 3e-4)
 */
import { loadBackend, type StateDict } from '@rpg/core';
import { type Dataset, harvestRun, loadMnist, MLP_MNIST, predict } from '../src/index.js';

function misclassifiedSet(params: StateDict, split: Dataset['test']): Set<number> {
  const pred = predict(MLP_MNIST, params, split.x, split.n);
  const out = new Set<number>();
  for (let i = 0; i < split.n; i++) if (pred[i] !== split.y[i]) out.add(i);
  return out;
}

function iou(a: Set<number>, b: Set<number>): number {
  let inter = 0;
  for (const v of a) if (b.has(v)) inter++;
  const union = a.size + b.size - inter;
  return union === 0 ? 1 : inter / union;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

await loadBackend();
const finals = process.argv.slice(2).map(Number);
const dataset = loadMnist();
const seeds = (process.env.SEEDS ?? '0').split(',').map(Number);
const epochs = Number(process.env.EPOCHS ?? 3);
for (const finalLr of finals.length > 0 ? finals : [1e-4, 3e-4]) {
  const setsBySeed: Set<number>[][] = [];
  for (const seed of seeds) {
    const result = await harvestRun({
      network: MLP_MNIST,
      dataset,
      seed,
      epochs,
      lr: 1e-3,
      finalLr,
      optimizer: 'adam',
      checkpoints: 50,
    });
    const accs = result.checkpoints.map((c) => c.testAccuracy);
    const sets = result.checkpoints.map((c) => misclassifiedSet(c.stateDict, dataset.test));
    setsBySeed.push(sets);
    const within: number[] = [];
    for (let i = 0; i < sets.length; i++)
      for (let j = i + 1; j < sets.length; j++) within.push(iou(sets[i]!, sets[j]!));
    console.log(
      JSON.stringify({
        finalLr,
        seed,
        epochs,
        secondsTotal: +result.seconds.toFixed(2),
        secondsPerEpoch: +(result.seconds / (epochs + 1)).toFixed(2),
        stepsPerEpoch: result.stepsPerEpoch,
        history: result.history.map((h) => ({ e: h.epoch, loss: +h.loss.toFixed(4), acc: h.testAccuracy })),
        converged: result.convergedAccuracy,
        ckpt: { max: Math.max(...accs), avg: +mean(accs).toFixed(3), min: Math.min(...accs) },
        meanPairwiseIou: +mean(within).toFixed(4),
      }),
    );
  }
  const across: number[] = [];
  for (let a = 0; a < setsBySeed.length; a++)
    for (let b = a + 1; b < setsBySeed.length; b++)
      for (const x of setsBySeed[a]!) for (const y of setsBySeed[b]!) across.push(iou(x, y));
  if (across.length > 0) console.log(JSON.stringify({ finalLr, meanCrossRunIou: +mean(across).toFixed(4) }));
}
