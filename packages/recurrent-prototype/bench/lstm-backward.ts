// LSTM forward + backward: TensorFlow's whole-sequence op (what tfjs-node runs), the step-by-step scan with its own
// backward pass (what the other backends run) and the op-by-op recorded formulation they replaced, alternated in
// one process; median ms per pass. Last line: one JSON object.
import { loadBackend, median, nativeBackend, Rng, tf } from '@rpg/core';
import { benchFlags } from '@rpg/core/cli-kit';
import { LstmStack, ParamStore } from '../src/index.js';
import { lstmLayer, scanLstmLayer } from '../src/lstm-layer.js';
import { lstmBackwardFor, nativeLstmLayer } from '../src/lstm-native.js';
import { tapedLstmStack } from '../test/lstm-reference.js';

const HELP = `tsx bench/lstm-backward.ts [--lengths 201,1024] [--batch 2] [--d 128] [--rounds 5]
  Times one forward + backward pass of a 2-layer LSTM (loss: a fixed projection of the outputs), alternating
  the native whole-sequence op, the scan with its hand-written backward pass and the op-by-op recorded one.
  The last line is one JSON object.`;
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
// Registers the stack's weights in `store` (lstm.<l>.*), which every form below reads.
new LstmStack(2, d, store, new Rng(0));
const forms = {
  native: (x: tf.Tensor3D) => tapedLstmStack(store, x, 2, lstmLayer),
  nativeTf: (x: tf.Tensor3D) =>
    tapedLstmStack(store, x, 2, (...a) => nativeLstmLayer(nativeBackend()!, ...a, 'native')),
  scan: (x: tf.Tensor3D) => tapedLstmStack(store, x, 2, scanLstmLayer),
  taped: (x: tf.Tensor3D) => tapedLstmStack(store, x, 2),
};
const names = Object.keys(forms) as (keyof typeof forms)[];
const result: Record<number, Record<string, number>> = {};
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
  const times = Object.fromEntries(names.map((n) => [n, [] as number[]]));
  for (const n of names) pass(forms[n]);
  for (let r = 0; r < rounds; r++) for (const n of names) times[n]!.push(pass(forms[n]));
  const ms = Object.fromEntries(names.map((n) => [n, median(times[n]!)]));
  result[len] = {
    ...Object.fromEntries(names.map((n) => [`${n}Ms`, Math.round(ms[n]!)])),
    nativeVsScan: Number((ms.scan! / ms.native!).toFixed(2)),
    jsVsTfBackward: Number((ms.nativeTf! / ms.native!).toFixed(2)),
    scanVsTaped: Number((ms.taped! / ms.scan!).toFixed(2)),
  };
  console.log(
    `L ${len}: native (${lstmBackwardFor(len, batch, d)} backward) ${ms.native!.toFixed(0)} ms, native (TensorFlow backward) ${ms.nativeTf!.toFixed(0)} ms, scan ${ms.scan!.toFixed(0)} ms, op-by-op ${ms.taped!.toFixed(0)} ms`,
  );
  tf.dispose([x, probe]);
}
console.log(JSON.stringify({ bench: 'lstm-backward', batch, d, layers: 2, rounds, lengths: result }));
