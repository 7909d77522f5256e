import { type TensorEntry, tf } from '@rpg/core';

/**
 * An exponential moving average of the trainable weights, the usual companion of diffusion training: the
 * averaged weights sample better than the last iterate of a noisy, high-LR optimiser. The decay warms up as
 * min(decay, (1 + n)/(10 + n)) so early averages are not dominated by the random init.
 */
export class WeightEma {
  private readonly shadow: tf.Variable[];
  private updates = 0;

  constructor(
    private readonly variables: tf.Variable[],
    readonly decay: number,
  ) {
    this.shadow = variables.map((v) => {
      const copy = v.clone();
      const shadow = tf.variable(copy, false);
      copy.dispose(); // the variable keeps its own reference to the data
      return shadow;
    });
  }

  update(): void {
    const d = Math.min(this.decay, (1 + this.updates) / (10 + this.updates));
    this.updates++;
    tf.tidy(() => {
      this.variables.forEach((v, i) => {
        const s = this.shadow[i]!;
        s.assign(tf.add(tf.mul(s, d), tf.mul(v, 1 - d)));
      });
    });
  }

  /** Copies the averages into the live variables (at the end of training). */
  copyToVariables(): void {
    for (const [i, v] of this.variables.entries()) v.assign(this.shadow[i]!);
  }

  state(): { updates: number; weights: Map<string, TensorEntry> } {
    const weights = new Map<string, TensorEntry>();
    for (const [i, s] of this.shadow.entries()) {
      weights.set(`${i}`, {
        dtype: 'F32',
        shape: [...s.shape],
        data: Float32Array.from(s.dataSync() as Float32Array),
      });
    }
    return { updates: this.updates, weights };
  }

  loadState(state: { updates: number; weights: Map<string, TensorEntry> }): void {
    if (state.weights.size !== this.shadow.length) {
      throw new Error(`EMA state has ${state.weights.size} tensors, this model ${this.shadow.length}`);
    }
    this.shadow.forEach((s, i) => {
      const e = state.weights.get(`${i}`);
      if (!e || e.shape.join() !== s.shape.join())
        throw new Error(`EMA state tensor ${i} is missing or misshapen`);
      tf.tidy(() => s.assign(tf.tensor(e.data as Float32Array, s.shape)));
    });
    this.updates = state.updates;
  }

  dispose(): void {
    for (const s of this.shadow) s.dispose();
  }
}
