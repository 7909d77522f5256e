import { numel, type Rng, type TensorEntry, tf } from '@rpg/core';

/**
 * The named trainable variables of one model. Names are the model's own (`mamba.0.in_proj.weight`, ...);
 * tfjs variable names are left to tfjs, so several models can live side by side in one engine.
 * Dense weights are stored `[in, out]` (so `x @ W`), not PyTorch's `[out, in]`.
 */
export class ParamStore {
  private readonly vars = new Map<string, tf.Variable>();

  /** Registers a variable holding `data` (row-major) with `shape`. Names must be unique. */
  add(name: string, shape: number[], data: Float32Array): tf.Variable {
    if (this.vars.has(name)) throw new Error(`parameter '${name}' is defined twice`);
    if (data.length !== numel(shape)) {
      throw new Error(`parameter '${name}': ${data.length} values for shape [${shape.join(', ')}]`);
    }
    const initial = tf.tensor(data, shape, 'float32');
    const v = tf.variable(initial, true);
    initial.dispose(); // the variable holds its own reference to the data
    this.vars.set(name, v);
    return v;
  }

  /** U(−bound, bound), PyTorch's default for Linear/Conv weights and biases with bound = 1/√fan_in. */
  uniform(name: string, shape: number[], bound: number, rng: Rng): tf.Variable {
    return this.add(name, shape, rng.uniformArray(numel(shape), -bound, bound));
  }

  normal(name: string, shape: number[], std: number, rng: Rng): tf.Variable {
    return this.add(name, shape, rng.normalArray(numel(shape), 0, std));
  }

  fill(name: string, shape: number[], value: number): tf.Variable {
    return this.add(name, shape, new Float32Array(numel(shape)).fill(value));
  }

  get(name: string): tf.Variable {
    const v = this.vars.get(name);
    if (!v) throw new Error(`no parameter '${name}'`);
    return v;
  }

  names(): string[] {
    return [...this.vars.keys()];
  }

  variables(): tf.Variable[] {
    return [...this.vars.values()];
  }

  /** Total number of scalar parameters. */
  count(): number {
    let n = 0;
    for (const v of this.vars.values()) n += v.size;
    return n;
  }

  /** A copy of every variable's values as F32 entries, in definition order. */
  weights(): Map<string, TensorEntry> {
    const out = new Map<string, TensorEntry>();
    for (const [name, v] of this.vars) {
      out.set(name, {
        dtype: 'F32',
        shape: [...v.shape],
        data: Float32Array.from(v.dataSync() as Float32Array),
      });
    }
    return out;
  }

  /**
   * Restores values saved by {@link weights}. The map must hold exactly this model's names and shapes
   * (F32, or any float array of the right length); nothing is changed when it does not.
   */
  loadWeights(w: Map<string, TensorEntry>): void {
    const problems: string[] = [];
    for (const [name, v] of this.vars) {
      const e = w.get(name);
      if (!e) problems.push(`missing '${name}'`);
      else if (e.shape.length !== v.shape.length || e.shape.some((s, i) => s !== v.shape[i])) {
        problems.push(`'${name}' has shape [${e.shape.join(', ')}], expected [${v.shape.join(', ')}]`);
      } else if (!(e.data instanceof Float32Array) || e.data.length !== v.size) {
        problems.push(`'${name}' must be F32 data with ${v.size} values (got ${e.dtype})`);
      }
    }
    for (const name of w.keys()) if (!this.vars.has(name)) problems.push(`unexpected '${name}'`);
    if (problems.length > 0) {
      throw new Error(`weights do not fit this prototype model: ${problems.slice(0, 8).join('; ')}`);
    }
    for (const [name, v] of this.vars) {
      const e = w.get(name)!;
      tf.tidy(() => v.assign(tf.tensor(e.data as Float32Array, v.shape, 'float32')));
    }
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}
