import { type TensorEntry, tf } from '@rpg/core';

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** Decoupled weight decay (AdamW); 0 gives plain Adam. */
  weightDecay?: number;
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
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];

  constructor(
    private readonly variables: tf.Variable[],
    options: AdamWOptions = {},
  ) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0;
    const zeros = (v: tf.Variable) => {
      const initial = tf.zerosLike(v);
      const moment = tf.variable(initial, false);
      initial.dispose(); // the variable keeps its own reference
      return moment;
    };
    this.m = variables.map(zeros);
    this.v = variables.map(zeros);
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
    tf.tidy(() => {
      this.variables.forEach((p, i) => {
        const g = grads[p.name];
        const m = this.m[i]!;
        const v = this.v[i]!;
        if (!g) {
          // No gradient this step: the moments still decay, as PyTorch does for a zero gradient.
          m.assign(tf.mul(m, this.beta1));
          v.assign(tf.mul(v, this.beta2));
        } else {
          m.assign(tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1)));
          v.assign(tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2)));
        }
        const denom = tf.add(tf.div(tf.sqrt(v), sqrtBc2), this.epsilon);
        const base = this.weightDecay > 0 ? tf.mul(p, decay) : p;
        p.assign(tf.sub(base, tf.mul(tf.div(m, denom), stepSize)));
      });
    });
  }

  state(): AdamWState {
    const moments = new Map<string, TensorEntry>();
    const entry = (x: tf.Variable): TensorEntry => ({
      dtype: 'F32',
      shape: [...x.shape],
      data: Float32Array.from(x.dataSync() as Float32Array),
    });
    for (const [i, x] of this.m.entries()) moments.set(`m.${i}`, entry(x));
    for (const [i, x] of this.v.entries()) moments.set(`v.${i}`, entry(x));
    return { step: this.stepCount, moments };
  }

  loadState(state: AdamWState): void {
    if (!Number.isInteger(state.step) || state.step < 0)
      throw new Error(`optimizer state: bad step ${state.step}`);
    const pairs: [tf.Variable, TensorEntry][] = [];
    for (const [prefix, list] of [
      ['m', this.m],
      ['v', this.v],
    ] as const) {
      list.forEach((x, i) => {
        const e = state.moments.get(`${prefix}.${i}`);
        if (!e)
          throw new Error(
            `optimizer state: missing "${prefix}.${i}" (does it come from the same model configuration?)`,
          );
        if (e.shape.length !== x.shape.length || e.shape.some((s, j) => s !== x.shape[j])) {
          throw new Error(`optimizer state: "${prefix}.${i}" has shape [${e.shape}], expected [${x.shape}]`);
        }
        pairs.push([x, e]);
      });
    }
    if (state.moments.size !== pairs.length) {
      throw new Error(`optimizer state has ${state.moments.size} moments, this optimizer ${pairs.length}`);
    }
    for (const [x, e] of pairs) tf.tidy(() => x.assign(tf.tensor(e.data as Float32Array, x.shape)));
    this.stepCount = state.step;
  }

  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
  }
}
