import { type Rng, tf } from '@rpg/core';
import { dense } from './ops.js';
import type { ParamStore } from './params.js';

interface LstmLayer {
  wIh: tf.Variable;
  wHh: tf.Variable;
  bias: tf.Variable;
}

/**
 * Stacked LSTM, hidden size d (gate columns ordered i, f, o, g; init U(±1/√d) as PyTorch, one bias per layer
 * standing for PyTorch's b_ih + b_hh). Each layer projects its whole input sequence with one matmul; each time
 * step is then one fused `h @ W_hh` for all four gates plus the element-wise cell ops (~10 ops per step).
 * (A diagonal wavefront over layers — one block matmul per step for all layers — was measured: no faster on
 * tfjs-node, whose small matmuls are bound by reading the weights, and it doubles the per-step weight reads.)
 */
export class LstmStack {
  private readonly layers: LstmLayer[] = [];
  private readonly hidden: number;

  constructor(layers: number, d: number, store: ParamStore, rng: Rng, prefix = 'lstm') {
    this.hidden = d;
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

  /** One LSTM cell update for a `[B, n, 4d]` pre-activation and `[B, n, d]` cell state → `[h, c]`. */
  private cell(gates: tf.Tensor, c: tf.Tensor): [tf.Tensor, tf.Tensor] {
    const d = this.hidden;
    const axis = gates.rank - 1;
    const [ifo, g] = tf.split(gates, [3 * d, d], axis);
    const [i, f, o] = tf.split(tf.sigmoid(ifo!), 3, axis);
    const cNew = tf.add(tf.mul(f!, c), tf.mul(i!, tf.tanh(g!)));
    return [tf.mul(o!, tf.tanh(cNew)), cNew];
  }

  /** `[B, L, d] → [B, L, d]` (hidden states of the last layer), causal. */
  forward(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const [batch, len] = x.shape;
      const d = this.hidden;
      let seq = x;
      for (const { wIh, wHh, bias } of this.layers) {
        const pre = tf.unstack(dense(seq, wIh as tf.Tensor2D, bias as tf.Tensor1D), 1);
        let h: tf.Tensor = tf.zeros([batch, d]);
        let c: tf.Tensor = tf.zeros([batch, d]);
        const outs: tf.Tensor[] = [];
        for (let t = 0; t < len; t++) {
          [h, c] = this.cell(tf.add(pre[t]!, tf.matMul(h as tf.Tensor2D, wHh as tf.Tensor2D)), c);
          outs.push(h);
        }
        seq = tf.stack(outs, 1) as tf.Tensor3D;
      }
      return seq;
    });
  }
}
