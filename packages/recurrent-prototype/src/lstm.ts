import { type Rng, tf } from '@rpg/core';
import { lstmLayer } from './lstm-layer.js';
import type { ParamStore } from './param-store.js';
import type { SequenceStage } from './sequence-model.js';

interface LstmLayer {
  wIh: tf.Variable;
  wHh: tf.Variable;
  bias: tf.Variable;
}

/**
 * Stacked LSTM, hidden size d (gate columns ordered i, f, o, g; init U(±1/√d) as PyTorch, one bias per layer
 * standing for PyTorch's b_ih + b_hh). Each layer is one op over the whole sequence (see {@link lstmLayer}):
 * TensorFlow's LSTM kernels on tfjs-node, elsewhere a scan with a hand-written backward pass.
 * (For the scan, a diagonal wavefront over layers — one block matmul per step for all layers — was measured: no
 * faster on tfjs-node, whose small matmuls are bound by reading the weights, and it doubles the weight reads.)
 */
export class LstmStack {
  private readonly layers: LstmLayer[] = [];

  constructor(layers: number, d: number, store: ParamStore, rng: Rng, prefix = 'lstm') {
    const bound = 1 / Math.sqrt(d);
    for (let l = 0; l < layers; l++) {
      this.layers.push({
        wIh: store.uniform(`${prefix}.${l}.weight_ih`, [d, 4 * d], bound, rng),
        wHh: store.uniform(`${prefix}.${l}.weight_hh`, [d, 4 * d], bound, rng),
        // Sum of two U(±bound) draws, like PyTorch's b_ih + b_hh.
        bias: store.add(
          `${prefix}.${l}.bias`,
          [4 * d],
          Float32Array.from({ length: 4 * d }, () => bound * (2 * rng.uniform() - 1 + 2 * rng.uniform() - 1)),
        ),
      });
    }
  }

  /** `[B, L, d] → [B, L, d]` (hidden states of the last layer), causal. */
  forward(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => this.stages().reduce((seq, layer) => layer.forward(seq), x));
  }

  stages(): SequenceStage[] {
    return this.layers.map(({ wIh, wHh, bias }) => ({
      forward: (seq) => lstmLayer(seq, wIh as tf.Tensor2D, wHh as tf.Tensor2D, bias as tf.Tensor1D),
    }));
  }
}
