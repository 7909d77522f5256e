// LSTM forward + backward: the layer with its own backward pass against the op-by-op recorded formulation it
// replaced, alternating the two in one process; median ms per pass. Last line: one JSON object.
import { loadBackend, median, Rng, tf } from '@rpg/core';
import { benchFlags } from '@rpg/core/cli-kit';
import { LstmStack, ParamStore } from '../src/index.js';
import { tapedLstmStack } from '../test/lstm-reference.js';

const HELP = `tsx bench/lstm-backward.ts [--lengths 201,1024] [--batch 2] [--d 128] [--rounds 5]
  Times one forward + backward pass of a 2-layer LSTM (loss: a fixed projection of the outputs), alternating
  the hand-written backward pass and the op-by-op recorded one. The last line is one JSON object.`;
const args = benchFlags(
  {
    lengths: { type: 'string', default: '201,1024' },
    batch: { type: 'string', default: '2' },
    d: { type: 'string', default: '128' },
    rounds: { type: 'string', default: '5' },
  },
  HELP,
);
const [batch, d, rounds] = [args.batch, args.d, args.rounds].map(Number) as [number, number, number];
const lengths = args.lengths.split(',').map(Number);
if (![batch, d, rounds, ...lengths].every((n) => Number.isInteger(n) && n > 0)) {
  console.error('--lengths, --batch, --d and --rounds take positive integers');
  process.exit(1);
}

await loadBackend({ log: null });
const store = new ParamStore();
const lstm = new LstmStack(2, d, store, new Rng(0));
const taped = (x: tf.Tensor3D) => tapedLstmStack(store, x, 2);
const result: Record<number, { ownBackwardMs: number; tapedMs: number; speedup: number }> = {};
for (const len of lengths) {
  const x = tf.randomNormal([batch, len, d], 0, 1, 'float32', 1) as tf.Tensor3D;
  const probe = tf.randomNormal([batch, len, d], 0, 1, 'float32', 2);
  const pass = (forward: (x: tf.Tensor3D) => tf.Tensor3D) => {
    const t0 = performance.now();
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.mul(forward(x), probe)) as tf.Scalar,
        store.variables(),
      );
      value.dataSync();
      for (const g of Object.values(grads)) g.dataSync();
    });
    return performance.now() - t0;
  };
  const own: number[] = [];
  const ref: number[] = [];
  pass((v) => lstm.forward(v));
  pass(taped);
  for (let r = 0; r < rounds; r++) {
    own.push(pass((v) => lstm.forward(v)));
    ref.push(pass(taped));
  }
  const ownMs = median(own);
  const refMs = median(ref);
  result[len] = {
    ownBackwardMs: Math.round(ownMs),
    tapedMs: Math.round(refMs),
    speedup: Number((refMs / ownMs).toFixed(2)),
  };
  console.log(
    `L ${len}: own backward ${ownMs.toFixed(0)} ms, op-by-op ${refMs.toFixed(0)} ms (${(refMs / ownMs).toFixed(2)}×)`,
  );
  tf.dispose([x, probe]);
}
console.log(JSON.stringify({ bench: 'lstm-backward', batch, d, layers: 2, rounds, lengths: result }));
