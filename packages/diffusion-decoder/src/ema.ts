import { type TensorEntry, tf } from '@rpg/core';
import { type FlatLayout, layoutFor } from './flat-variables.js';

/**
 * An exponential moving average of the trainable weights, the usual companion of diffusion training: the
 * averaged weights sample better than the last iterate of a noisy, high-LR optimiser. The decay warms up as
 * min(decay, (1 + n)/(10 + n)) so early averages are not dominated by the random init.
 */
export class WeightEma {
  private readonly layout: FlatLayout;
  /** The averages of all variables as flat vectors, one per segment of the layout. */
  private readonly shadow: tf.Variable[];
  private updates = 0;

  /** `layout`: a layout of `variables` (the optimizer's, to read the values it assigned), or values per segment. */
  constructor(
    private readonly variables: tf.Variable[],
    readonly decay: number,
    layout?: FlatLayout | number,
  ) {
    this.layout = layoutFor(variables, layout, 'WeightEma');
    this.shadow = this.layout.copies();
  }

  update(): void {
    const d = Math.min(this.decay, (1 + this.updates) / (10 + this.updates));
    this.updates++;
    this.shadow.forEach((shadow, s) => {
      tf.tidy(() => {
        shadow.assign(tf.add(tf.mul(shadow, d), tf.mul(this.layout.valuesOf(s), 1 - d)));
      });
    });
  }

  /** Copies the averages into the live variables (at the end of training). */
  copyToVariables(): void {
    this.layout.assignFrom((s) => this.shadow[s]!);
  }

  state(): { updates: number; weights: Map<string, TensorEntry> } {
    const weights = new Map<string, TensorEntry>();
    for (const [i, e] of this.layout.entries(this.shadow).entries()) weights.set(`${i}`, e);
    return { updates: this.updates, weights };
  }

  loadState(state: { updates: number; weights: Map<string, TensorEntry> }): void {
    if (state.weights.size !== this.variables.length) {
      throw new Error(`EMA state has ${state.weights.size} tensors, this model ${this.variables.length}`);
    }
    const values = this.variables.map((v, i) => {
      const e = state.weights.get(`${i}`);
      if (!e || e.shape.join() !== v.shape.join() || !(e.data instanceof Float32Array))
        throw new Error(`EMA state tensor ${i} is missing or misshapen`);
      return e.data;
    });
    this.layout.load(this.shadow, values);
    this.updates = state.updates;
  }

  dispose(): void {
    this.layout.forget();
    tf.dispose(this.shadow);
  }
}
