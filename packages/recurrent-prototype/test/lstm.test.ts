import { nativeBackend, Rng, tf } from '@rpg/core';
import { useBackend } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import { LstmStack, ParamStore } from '../src/index.js';
import { lstmKernelFits } from '../src/lstm-backward-kernel.js';
import { lstmLayer, scanLstmLayer } from '../src/lstm-layer.js';
import { lstmBackwardFor, nativeLstmLayer } from '../src/lstm-native.js';
import { maxAbs, maxAbsDiff } from './helpers.js';
import { tapedLstmStack } from './lstm-reference.js';

useBackend();

const D = 16;

function build(seed: number) {
  const store = new ParamStore();
  return { lstm: new LstmStack(2, D, store, new Rng(seed)), store };
}

/** The same two-layer stack, recorded op by op. */
const tapedForward = (store: ParamStore, x: tf.Tensor3D) => tapedLstmStack(store, x, 2);

/** Gradients of a fixed random projection of the outputs, by the input and every weight. */
function gradients(forward: (x: tf.Tensor3D) => tf.Tensor3D, store: ParamStore, x: tf.Tensor3D) {
  return tf.tidy(() => {
    const probe = tf.randomNormal(x.shape, 0, 1, 'float32', 9);
    const f = (input: tf.Tensor) => tf.sum(tf.mul(forward(input as tf.Tensor3D), probe)) as tf.Scalar;
    const dx = tf.grad(f)(x);
    const { grads } = tf.variableGrads(() => f(x), store.variables());
    return [dx, ...store.variables().map((v) => grads[v.name]!)].map((g) => tf.keep(g));
  });
}

describe('lstm with its own backward pass', () => {
  it('runs as the native whole-sequence op here, and the stack is its layers in turn', () => {
    expect(nativeBackend(), 'these tests run on tfjs-node').toBeDefined();
    const { lstm, store } = build(2);
    const x = tf.randomNormal([2, 9, D], 0, 1, 'float32', 4) as tf.Tensor3D;
    const y = lstm.forward(x);
    const layered = tapedLstmStack(store, x, 2, lstmLayer);
    expect(Array.from(y.dataSync())).toEqual(Array.from(layered.dataSync()));
    tf.dispose([x, y, layered]);
    store.dispose();
  });

  it('runs its backward time loop in WebAssembly on the CPU build, unless its arrays are too large', () => {
    expect(lstmBackwardFor(201, 2, D)).toBe('wasm');
    expect(lstmBackwardFor(201, 8, 1024)).toBe('wasm');
    expect(lstmKernelFits(100_000, 8, 1024)).toBe(false);
    expect(lstmBackwardFor(100_000, 8, 1024)).toBe('native');
  });

  // The scan formulation runs the reference's ops (outputs bit for bit); the native op computes the same
  // equations with its own kernels (outputs to float rounding), its backward pass in WebAssembly or in
  // TensorFlow's gradient kernel.
  const native =
    (backward: 'wasm' | 'native') =>
    (...a: Parameters<typeof lstmLayer>) =>
      nativeLstmLayer(nativeBackend()!, ...a, backward);
  const layers = {
    scan: scanLstmLayer,
    native: native('wasm'),
    'native, TensorFlow backward': native('native'),
  };
  for (const [impl, outputTolerance] of [
    ['scan', 0],
    ['native', 1e-6],
    ['native, TensorFlow backward', 1e-6],
  ] as const) {
    for (const len of [23, 1]) {
      it(`${impl}, L = ${len}: outputs equal the op-by-op formulation, gradients within float tolerance`, () => {
        const { store } = build(3);
        const forward = (v: tf.Tensor3D) => tapedLstmStack(store, v, 2, layers[impl]);
        const x = tf.randomNormal([2, len, D], 0, 1, 'float32', 4) as tf.Tensor3D;
        const y = forward(x);
        const yRef = tapedForward(store, x);
        if (outputTolerance === 0) expect(Array.from(y.dataSync())).toEqual(Array.from(yRef.dataSync()));
        else expect(maxAbsDiff(y, yRef)).toBeLessThan(outputTolerance);
        const g = gradients(forward, store, x);
        const gRef = gradients((v) => tapedForward(store, v), store, x);
        expect(g).toHaveLength(1 + store.names().length);
        const names = ['input', ...store.names()];
        g.forEach((gi, i) => {
          const scale = maxAbs(gRef[i]!);
          // With one step, h₋₁ = 0: W_hh gets no gradient in either formulation.
          if (len === 1 && names[i]!.endsWith('weight_hh')) {
            expect(maxAbs(gi), names[i]).toBe(0);
            return;
          }
          expect(scale, `${names[i]}: gradient is not trivially zero`).toBeGreaterThan(1e-3);
          expect(maxAbsDiff(gi, gRef[i]!) / scale, names[i]).toBeLessThan(1e-5);
        });
        tf.dispose([x, y, yRef, ...g, ...gRef]);
        store.dispose();
      });
    }
  }

  it('same seed → identical gradients run to run, and no tensor is left behind', () => {
    const runs = [build(5), build(5)];
    const x = tf.randomNormal([2, 17, D], 0, 1, 'float32', 6) as tf.Tensor3D;
    const before = tf.memory().numTensors;
    const [a, b] = runs.map(({ lstm, store }) => gradients((v) => lstm.forward(v), store, x));
    const kept = a!.length + b!.length;
    expect(tf.memory().numTensors).toBe(before + kept);
    a!.forEach((ga, i) => {
      expect(Array.from(ga.dataSync())).toEqual(Array.from(b![i]!.dataSync()));
    });
    tf.dispose([x, ...a!, ...b!]);
    for (const r of runs) r.store.dispose();
  });
});
