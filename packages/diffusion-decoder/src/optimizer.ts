import { nativeBackend, type TensorEntry, tf } from '@rpg/core';
import { type FlatLayout, layoutFor } from './flat-variables.js';
import { NativeAdamSegment } from './native-adam.js';

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** Decoupled weight decay (AdamW); 0 gives plain Adam. */
  weightDecay?: number;
  /** Values per update segment (see {@link FlatLayout}); tests cut small models into several. */
  segmentValues?: number;
  /**
   * The layout of `variables` to use, shared with the weight average: the average then reads the values this
   * optimizer assigned without gathering them again.
   */
  layout?: FlatLayout;
  /**
   * On tfjs-node, step with TensorFlow's fused Adam kernel (default); false: the element-wise formulation, as on
   * the other backends. The two agree to float rounding (tested).
   */
  native?: boolean;
}

/** Everything needed to continue exactly: the step count and both moment estimates per variable. */
export interface AdamWState {
  step: number;
  /** By variable index in the optimizer's list: `m.<i>` and `v.<i>`. */
  moments: Map<string, TensorEntry>;
}

/**
 * AdamW with PyTorch's update rule (bias corrections computed in float64 from the step count, so a restored
 * state continues bit-exactly; tfjs's own Adam keeps β^t as a running float32 product and re-derives it with
 * `pow` on restore, which can differ in the last bit).
 *   m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  p ← p·(1 − lr·wd) − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)
 */
export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  private stepCount = 0;
  private readonly layout: FlatLayout;
  /** Both moments of every variable: as TensorFlow resource variables on tfjs-node, else as flat tf variables. */
  private readonly moments:
    | { kind: 'native'; segments: NativeAdamSegment[] }
    | { kind: 'tensors'; m: tf.Variable[]; v: tf.Variable[] };

  constructor(
    private readonly variables: tf.Variable[],
    options: AdamWOptions = {},
  ) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0;
    this.layout = layoutFor(variables, options.layout ?? options.segmentValues, 'AdamW');
    const backend = options.native === false ? undefined : nativeBackend();
    this.moments = backend
      ? {
          kind: 'native',
          segments: this.layout.segments.map(
            (_, s) => new NativeAdamSegment(backend, this.layout.segmentSize(s)),
          ),
        }
      : { kind: 'tensors', m: this.layout.zeros(), v: this.layout.zeros() };
  }

  get step(): number {
    return this.stepCount;
  }

  /** One update with learning rate `lr`; `grads` maps each variable's name to its gradient (missing = zero gradient). */
  apply(grads: Record<string, tf.Tensor>, lr: number): void {
    this.stepCount++;
    const t = this.stepCount;
    const stepSize = lr / (1 - this.beta1 ** t);
    const sqrtBc2 = Math.sqrt(1 - this.beta2 ** t);
    const decay = 1 - lr * this.weightDecay;
    // A missing gradient counts as zero: the moments still decay, as PyTorch does for a zero gradient.
    const g = this.variables.map((p) => grads[p.name]);
    const moments = this.moments;
    this.layout.assignFrom((s) => {
      const gs = this.layout.segmentOf(g, s);
      const p = this.layout.valuesOf(s);
      const decayed = this.weightDecay > 0 ? tf.mul(p, decay) : p;
      if (moments.kind === 'native') {
        const { beta1, beta2, epsilon } = this;
        return moments.segments[s]!.step(decayed as tf.Tensor1D, gs, {
          stepSize,
          sqrtBc2,
          beta1,
          beta2,
          epsilon,
        });
      }
      const m = tf.add(tf.mul(moments.m[s]!, this.beta1), tf.mul(gs, 1 - this.beta1));
      const v = tf.add(tf.mul(moments.v[s]!, this.beta2), tf.mul(tf.square(gs), 1 - this.beta2));
      moments.m[s]!.assign(m);
      moments.v[s]!.assign(v);
      const denom = tf.add(tf.div(tf.sqrt(v), sqrtBc2), this.epsilon);
      return tf.sub(decayed, tf.mul(tf.div(m, denom), stepSize)) as tf.Tensor1D;
    });
  }

  state(): AdamWState {
    const moments = new Map<string, TensorEntry>();
    const [m, v] = this.flatMoments();
    for (const [prefix, flat] of [
      ['m', m],
      ['v', v],
    ] as const) {
      for (const [i, e] of this.layout.entries(flat).entries()) moments.set(`${prefix}.${i}`, e);
    }
    if (this.moments.kind === 'native') tf.dispose([...m, ...v]);
    return { step: this.stepCount, moments };
  }

  /** Both moments, one flat vector per segment (copies on tfjs-node: dispose them). */
  private flatMoments(): [tf.Tensor[], tf.Tensor[]] {
    const moments = this.moments;
    if (moments.kind === 'tensors') return [moments.m, moments.v];
    const pairs = moments.segments.map((segment) => segment.moments());
    return [pairs.map(([m]) => m), pairs.map(([, v]) => v)];
  }

  loadState(state: AdamWState): void {
    if (!Number.isInteger(state.step) || state.step < 0)
      throw new Error(`optimizer state: bad step ${state.step}`);
    const values: Record<'m' | 'v', Float32Array[]> = { m: [], v: [] };
    for (const prefix of ['m', 'v'] as const) {
      this.variables.forEach((x, i) => {
        const e = state.moments.get(`${prefix}.${i}`);
        if (!e)
          throw new Error(
            `optimizer state: missing "${prefix}.${i}" (does it come from the same model configuration?)`,
          );
        if (e.shape.length !== x.shape.length || e.shape.some((s, j) => s !== x.shape[j])) {
          throw new Error(`optimizer state: "${prefix}.${i}" has shape [${e.shape}], expected [${x.shape}]`);
        }
        if (!(e.data instanceof Float32Array))
          throw new Error(`optimizer state: "${prefix}.${i}" must be F32`);
        values[prefix].push(e.data);
      });
    }
    const expected = 2 * this.variables.length;
    if (state.moments.size !== expected) {
      throw new Error(`optimizer state has ${state.moments.size} moments, this optimizer ${expected}`);
    }
    const moments = this.moments;
    if (moments.kind === 'native') {
      moments.segments.forEach((segment, s) => {
        segment.load(this.layout.segmentData(values.m, s), this.layout.segmentData(values.v, s));
      });
    } else {
      this.layout.load(moments.m, values.m);
      this.layout.load(moments.v, values.v);
    }
    this.stepCount = state.step;
  }

  dispose(): void {
    this.layout.forget();
    if (this.moments.kind === 'native') for (const segment of this.moments.segments) segment.dispose();
    else tf.dispose([...this.moments.m, ...this.moments.v]);
  }
}
