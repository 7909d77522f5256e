import { type TensorEntry, tf } from '@rpg/core';

/**
 * A list of variables seen as one flat vector, so that an element-wise update of all of them (AdamW, the weight
 * EMA) costs a handful of ops on one buffer instead of a handful per variable: on tfjs-node every op has a fixed
 * cost that, for the ~50 small variables of a generator, outweighs the arithmetic.
 */
export class FlatLayout {
  readonly sizes: number[];
  readonly total: number;

  constructor(readonly variables: readonly tf.Variable[]) {
    this.sizes = variables.map((v) => v.size);
    this.total = this.sizes.reduce((a, b) => a + b, 0);
  }

  /** The variables' current values, concatenated: `[total]`. */
  concat(): tf.Tensor1D {
    return this.concatOf(this.variables);
  }

  /** Tensors of the variables' shapes (missing: zeros), concatenated. */
  concatOf(parts: readonly (tf.Tensor | undefined)[]): tf.Tensor1D {
    return tf.tidy(() =>
      tf.concat(
        parts.map((p, i) => (p ? tf.reshape(p, [-1]) : tf.zeros([this.sizes[i]!]))),
        0,
      ),
    ) as tf.Tensor1D;
  }

  /** `flat` `[total]` cut back into tensors of the variables' shapes. */
  split(flat: tf.Tensor1D): tf.Tensor[] {
    return tf.tidy(() =>
      tf.split(flat, this.sizes).map((piece, i) => tf.reshape(piece, this.variables[i]!.shape)),
    );
  }

  /** A zero-filled (non-trainable) flat variable. */
  zeros(): tf.Variable {
    const initial = tf.zeros([this.total]);
    const v = tf.variable(initial, false);
    initial.dispose(); // the variable keeps its own reference
    return v;
  }

  /** Copies of the flat variable's pieces, one F32 entry per variable in its shape. */
  entries(flat: tf.Variable): TensorEntry[] {
    const data = flat.dataSync() as Float32Array;
    let offset = 0;
    return this.variables.map((v, i) => {
      const n = this.sizes[i]!;
      const entry: TensorEntry = { dtype: 'F32', shape: [...v.shape], data: data.slice(offset, offset + n) };
      offset += n;
      return entry;
    });
  }

  /** Assigns per-variable values (already checked against the shapes) to the flat variable. */
  load(flat: tf.Variable, values: readonly Float32Array[]): void {
    const data = new Float32Array(this.total);
    let offset = 0;
    values.forEach((v, i) => {
      data.set(v, offset);
      offset += this.sizes[i]!;
    });
    tf.tidy(() => flat.assign(tf.tensor1d(data)));
  }
}
