import { type Rng, tf } from '@rpg/core';
import { dense, silu } from './dense-and-norms.js';
import type { ParamStore } from './param-store.js';

/**
 * The "no recurrent model" ablation: a per-token gated MLP, `x += W_o(SiLU(x W_g) ⊙ x W_u)` per layer (hidden
 * width expand·d, 2d by default). Positions never interact, so each prototype sees only its own input (position +
 * state embedding).
 */
export class GatedMlpStack {
  private readonly layers: Record<'wg' | 'bg' | 'wu' | 'bu' | 'wo' | 'bo', tf.Variable>[] = [];
  readonly positionwise = true;

  constructor(layers: number, d: number, store: ParamStore, rng: Rng, prefix = 'mlp', expand = 2) {
    const hidden = expand * d;
    const bIn = 1 / Math.sqrt(d);
    const bOut = 1 / Math.sqrt(hidden);
    for (let l = 0; l < layers; l++) {
      const p = `${prefix}.${l}`;
      this.layers.push({
        wg: store.uniform(`${p}.gate.weight`, [d, hidden], bIn, rng),
        bg: store.uniform(`${p}.gate.bias`, [hidden], bIn, rng),
        wu: store.uniform(`${p}.up.weight`, [d, hidden], bIn, rng),
        bu: store.uniform(`${p}.up.bias`, [hidden], bIn, rng),
        wo: store.uniform(`${p}.down.weight`, [hidden, d], bOut, rng),
        bo: store.uniform(`${p}.down.bias`, [d], bOut, rng),
      });
    }
  }

  /** `[B, L, d] → [B, L, d]`, position by position. */
  forward(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      let h = x;
      for (const L of this.layers) {
        const gate = silu(dense(h, L.wg as tf.Tensor2D, L.bg as tf.Tensor1D));
        const up = dense(h, L.wu as tf.Tensor2D, L.bu as tf.Tensor1D);
        h = tf.add(h, dense(tf.mul(gate, up) as tf.Tensor3D, L.wo as tf.Tensor2D, L.bo as tf.Tensor1D));
      }
      return h;
    });
  }
}
