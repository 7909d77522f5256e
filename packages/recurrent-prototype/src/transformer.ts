import { type Rng, tf } from '@rpg/core';
import { checkAttentionMemory, defaultAttentionMemoryMB } from './attention-memory.js';
import { dense } from './dense-and-norms.js';
import type { ParamStore } from './param-store.js';
import { attentionOp, geluOp, layerNormOp } from './transformer-ops.js';
import { triangleMask } from './triangle-mask.js';

interface TransformerLayer {
  ln1g: tf.Variable;
  ln1b: tf.Variable;
  wQkv: tf.Variable;
  bQkv: tf.Variable;
  wO: tf.Variable;
  bO: tf.Variable;
  ln2g: tf.Variable;
  ln2b: tf.Variable;
  w1: tf.Variable;
  b1: tf.Variable;
  w2: tf.Variable;
  b2: tf.Variable;
}

/**
 * Pre-LN causal Transformer: `x += Attn(LN(x))`, `x += MLP(LN(x))` per layer, final LayerNorm. Multi-head
 * attention with scores scaled by 1/√d_head and a causal mask (position t attends to s ≤ t only); MLP d → 4d → d
 * with exact GELU. No positional encoding of its own: positions come with the input embedding. Attention is
 * quadratic in L: a forward pass whose L×L scores would exceed `memoryCapMB` throws before allocating.
 */
export class TransformerStack {
  readonly recomputeSaves = true;
  private readonly layers: TransformerLayer[] = [];
  private readonly heads: number;
  private readonly lnfG: tf.Variable;
  private readonly lnfB: tf.Variable;
  private readonly memoryCapMB: number;

  constructor(
    layers: number,
    d: number,
    heads: number,
    store: ParamStore,
    rng: Rng,
    prefix = 'transformer',
    memoryCapMB = defaultAttentionMemoryMB(),
  ) {
    if (d % heads !== 0) throw new Error(`transformer: heads (${heads}) must divide d (${d})`);
    this.heads = heads;
    this.memoryCapMB = memoryCapMB;
    const b = (fanIn: number) => 1 / Math.sqrt(fanIn);
    for (let l = 0; l < layers; l++) {
      const p = `${prefix}.${l}`;
      this.layers.push({
        ln1g: store.fill(`${p}.ln1.weight`, [d], 1),
        ln1b: store.fill(`${p}.ln1.bias`, [d], 0),
        wQkv: store.uniform(`${p}.attn.qkv.weight`, [d, 3 * d], b(d), rng),
        bQkv: store.fill(`${p}.attn.qkv.bias`, [3 * d], 0),
        wO: store.uniform(`${p}.attn.out.weight`, [d, d], b(d), rng),
        bO: store.fill(`${p}.attn.out.bias`, [d], 0),
        ln2g: store.fill(`${p}.ln2.weight`, [d], 1),
        ln2b: store.fill(`${p}.ln2.bias`, [d], 0),
        w1: store.uniform(`${p}.mlp.fc1.weight`, [d, 4 * d], b(d), rng),
        b1: store.uniform(`${p}.mlp.fc1.bias`, [4 * d], b(d), rng),
        w2: store.uniform(`${p}.mlp.fc2.weight`, [4 * d, d], b(4 * d), rng),
        b2: store.uniform(`${p}.mlp.fc2.bias`, [d], b(4 * d), rng),
      });
    }
    this.lnfG = store.fill(`${prefix}.ln_f.weight`, [d], 1);
    this.lnfB = store.fill(`${prefix}.ln_f.bias`, [d], 0);
  }

  /** `[B, L, d] → [B, L, d]`, causal. */
  forward(x: tf.Tensor3D): tf.Tensor3D {
    const [batch, len] = x.shape;
    const { heads } = this;
    checkAttentionMemory({ layers: this.layers.length, heads, batch, len }, this.memoryCapMB);
    return tf.tidy(() => {
      // Additive mask: 0 where s ≤ t, −1e9 where s > t (softmax gives exactly 0 there).
      const maskBias = triangleMask(len, 'lower', 0, -1e9);
      let h = x;
      for (const L of this.layers) {
        const a = layerNormOp(h, L.ln1g as tf.Tensor1D, L.ln1b as tf.Tensor1D);
        const qkv = dense(a, L.wQkv as tf.Tensor2D, L.bQkv as tf.Tensor1D);
        const merged = attentionOp(qkv, heads, maskBias);
        h = tf.add(h, dense(merged, L.wO as tf.Tensor2D, L.bO as tf.Tensor1D));
        const m = layerNormOp(h, L.ln2g as tf.Tensor1D, L.ln2b as tf.Tensor1D);
        const hidden = geluOp(dense(m, L.w1 as tf.Tensor2D, L.b1 as tf.Tensor1D)) as tf.Tensor3D;
        h = tf.add(h, dense(hidden, L.w2 as tf.Tensor2D, L.b2 as tf.Tensor1D));
      }
      return layerNormOp(h, this.lnfG as tf.Tensor1D, this.lnfB as tf.Tensor1D);
    });
  }
}
