import { type TensorEntry, tf } from '@rpg/core';

/** Values per segment: 16 MiB of float32, so an update's dozen temporaries stay near 200 MiB at any model size. */
export const SEGMENT_VALUES = 1 << 22;

/** One variable's share of a segment: values [from, from + count) of the flattened variable. */
interface Piece {
  variable: number;
  from: number;
  count: number;
}

/**
 * A list of variables seen as one flat vector cut into segments of at most `segmentValues` values, so that an
 * element-wise update of all of them (AdamW, the weight EMA) costs a handful of ops per segment instead of a
 * handful per variable (on tfjs-node every op has a fixed cost that, for the ~50 small variables of a generator,
 * outweighs the arithmetic), while its temporaries stay the size of a segment, not of the model (a decoder for
 * tokens of 4,096 has 74 M parameters). A model smaller than one segment is one segment. Cutting changes no value:
 * every update is element-wise.
 */
export class FlatLayout {
  readonly sizes: number[];
  readonly total: number;
  /** Consecutive runs of the concatenated values, in order. */
  readonly segments: Piece[][];
  /**
   * The vector {@link assignFrom} last gave a one-segment layout, and the data each variable held right after. While
   * every variable still holds that data, {@link valuesOf} hands out this vector instead of reshaping and
   * concatenating every variable again: twice a step, for the optimizer and for the weight average sharing the
   * layout. A model of several segments gathers as before; its cache would be as large as the model.
   */
  private last?: { flat: tf.Tensor1D; data: object[] };

  constructor(
    readonly variables: readonly tf.Variable[],
    segmentValues = SEGMENT_VALUES,
  ) {
    this.sizes = variables.map((v) => v.size);
    this.total = this.sizes.reduce((a, b) => a + b, 0);
    this.segments = [];
    let current: Piece[] = [];
    let room = segmentValues;
    this.sizes.forEach((size, variable) => {
      for (let from = 0; from < size; ) {
        const count = Math.min(size - from, room);
        current.push({ variable, from, count });
        from += count;
        room -= count;
        if (room === 0) {
          this.segments.push(current);
          current = [];
          room = segmentValues;
        }
      }
    });
    if (current.length > 0) this.segments.push(current);
  }

  segmentSize(s: number): number {
    return this.segments[s]!.reduce((n, p) => n + p.count, 0);
  }

  /** Segment `s` of the concatenation of `parts` (tensors of the variables' shapes; missing: zeros). */
  segmentOf(parts: readonly (tf.Tensor | undefined)[], s: number): tf.Tensor1D {
    return tf.tidy(() => {
      const pieces = this.segments[s]!.map(({ variable, from, count }) => {
        const part = parts[variable];
        if (!part) return tf.zeros([count]);
        // A 1-D tensor is its own flat form (but a variable gets a new handle: callers may dispose what they get).
        const flat = part.rank === 1 && !(part instanceof tf.Variable) ? part : tf.reshape(part, [-1]);
        return count === this.sizes[variable] ? flat : tf.slice(flat, from, count);
      });
      return (pieces.length === 1 ? pieces[0]! : tf.concat(pieces, 0)) as tf.Tensor1D;
    });
  }

  /** Segment `s` of the variables' current values (a new handle: the caller may dispose it). */
  valuesOf(s: number): tf.Tensor1D {
    const last = this.last;
    if (last && !last.flat.isDisposed && this.variables.every((v, i) => v.dataId === last.data[i])) {
      return tf.clone(last.flat);
    }
    return this.segmentOf(this.variables, s);
  }

  /**
   * Assigns new values to every variable: `produce(s)` gives segment `s`'s (and may update other state on the
   * way). Segments run in order, each in its own scope; a variable is assigned when its last piece is produced,
   * so `produce` still reads a variable's old values in every segment it spans.
   */
  assignFrom(produce: (s: number) => tf.Tensor): void {
    const pending = new Map<number, tf.Tensor[]>();
    let kept: tf.Tensor1D | undefined;
    this.segments.forEach((segment, s) => {
      tf.tidy(() => {
        const flat = produce(s);
        // A variable `produce` returns changes later: only a vector of its own is kept.
        if (this.segments.length === 1 && !(flat instanceof tf.Variable)) kept = tf.keep(flat) as tf.Tensor1D;
        // A reshaped handle, never `flat` itself: `produce` may return a tensor it owns (a variable).
        const pieces =
          segment.length === 1
            ? [tf.reshape(flat, [-1])]
            : tf.split(
                flat,
                segment.map((p) => p.count),
              );
        segment.forEach(({ variable, from, count }, i) => {
          const parts = pending.get(variable) ?? [];
          parts.push(tf.keep(pieces[i]!));
          if (from + count < this.sizes[variable]!) {
            pending.set(variable, parts);
            return;
          }
          pending.delete(variable);
          const value = parts.length === 1 ? parts[0]! : tf.concat(parts, 0);
          const v = this.variables[variable]!;
          v.assign(v.rank === 1 ? value : tf.reshape(value, v.shape));
          tf.dispose(parts);
        });
      });
    });
    this.forget();
    if (kept) this.last = { flat: kept, data: this.variables.map((v) => v.dataId) };
  }

  /** Drops the vector kept by {@link assignFrom}. */
  forget(): void {
    this.last?.flat.dispose();
    this.last = undefined;
  }

  /** Zero-filled (non-trainable) flat variables, one per segment. */
  zeros(): tf.Variable[] {
    return this.segments.map((_, s) => {
      const initial = tf.zeros([this.segmentSize(s)]);
      const v = tf.variable(initial, false);
      initial.dispose(); // the variable keeps its own reference
      return v;
    });
  }

  /** The variables' current values as flat variables, one per segment. */
  copies(): tf.Variable[] {
    return this.segments.map((_, s) => {
      const initial = this.valuesOf(s);
      const v = tf.variable(initial, false);
      initial.dispose();
      return v;
    });
  }

  /** Copies of the flat vectors' pieces (one vector per segment), one F32 entry per variable in its shape. */
  entries(flats: readonly tf.Tensor[]): TensorEntry[] {
    const data = this.sizes.map((n) => new Float32Array(n));
    this.segments.forEach((segment, s) => {
      const values = flats[s]!.dataSync() as Float32Array;
      let offset = 0;
      for (const { variable, from, count } of segment) {
        data[variable]!.set(values.subarray(offset, offset + count), from);
        offset += count;
      }
    });
    return this.variables.map((v, i) => ({ dtype: 'F32', shape: [...v.shape], data: data[i]! }));
  }

  /** Segment `s` of per-variable values (already checked against the shapes), as one vector. */
  segmentData(values: readonly Float32Array[], s: number): Float32Array {
    const data = new Float32Array(this.segmentSize(s));
    let offset = 0;
    for (const { variable, from, count } of this.segments[s]!) {
      data.set(values[variable]!.subarray(from, from + count), offset);
      offset += count;
    }
    return data;
  }

  /** Assigns per-variable values (already checked against the shapes) to the flat variables. */
  load(flats: readonly tf.Variable[], values: readonly Float32Array[]): void {
    this.segments.forEach((_, s) => {
      tf.tidy(() => flats[s]!.assign(tf.tensor1d(this.segmentData(values, s))));
    });
  }
}

/**
 * `given` when it is a layout of exactly `variables` (shared between the optimizer and the weight average), else a
 * new layout of them cut every `given` values (default {@link SEGMENT_VALUES}). `who` names the caller in errors.
 */
export function layoutFor(
  variables: readonly tf.Variable[],
  given: FlatLayout | number | undefined,
  who: string,
): FlatLayout {
  if (!(given instanceof FlatLayout)) return new FlatLayout(variables, given);
  const same =
    given.variables.length === variables.length && given.variables.every((v, i) => v === variables[i]);
  if (!same) throw new Error(`${who}: the layout given is of other variables`);
  return given;
}
