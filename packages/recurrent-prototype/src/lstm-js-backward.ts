/**
 * The gate activations of every step of one LSTM layer, as TensorFlow's BlockLSTMV2 returns them: time-major
 * `[L, B, d]` each, σ and tanh already applied (`ci` = tanh of the cell input, `co` = tanh of the cell state `cs`).
 */
export interface LstmSteps {
  i: Float32Array;
  cs: Float32Array;
  f: Float32Array;
  o: Float32Array;
  ci: Float32Array;
  co: Float32Array;
}

/**
 * The backward recurrence of an LSTM layer in plain JavaScript: from the gradient `dy` `[B, L, d]` of the hidden
 * states and the saved {@link LstmSteps}, the gradient of every step's gate pre-activations, `[L, B, 4d]` in
 * TensorFlow's gate order (i, f, ci, o), from zero initial states. `wH` `[d, 4d]` holds the recurrent weights in
 * that order. The weight and input gradients follow from it in one matmul each (the caller's).
 *
 * Why JavaScript: per step this is a `[B, 4d] × [4d, d]` product and a few element-wise lines, ~0.1 ms of
 * arithmetic at the example's sizes, while TensorFlow's CPU gradient kernel spends several times that per step
 * in its own small-kernel dispatch (and also accumulates the weight gradients step by step). Accumulates in
 * float64; deterministic.
 */
export function lstmGateGradients(
  steps: LstmSteps,
  dy: Float32Array,
  wH: Float32Array,
  len: number,
  batch: number,
  d: number,
): Float32Array {
  const { i, cs, f, o, ci, co } = steps;
  const G = 4 * d;
  const dPre = new Float32Array(len * batch * G);
  const dhNext = new Float64Array(batch * d);
  const dcNext = new Float64Array(batch * d);
  for (let t = len - 1; t >= 0; t--) {
    for (let b = 0; b < batch; b++) {
      const row = (t * batch + b) * d; // this step's values of sequence b
      const gates = (t * batch + b) * G;
      const dyRow = (b * len + t) * d;
      for (let j = 0; j < d; j++) {
        const at = row + j;
        const dh = dy[dyRow + j]! + dhNext[b * d + j]!;
        const oj = o[at]!;
        const coj = co[at]!;
        const dc = dcNext[b * d + j]! + dh * oj * (1 - coj * coj);
        const ij = i[at]!;
        const fj = f[at]!;
        const cij = ci[at]!;
        const cPrev = t > 0 ? cs[at - batch * d]! : 0;
        dPre[gates + j] = dc * cij * ij * (1 - ij);
        dPre[gates + d + j] = dc * cPrev * fj * (1 - fj);
        dPre[gates + 2 * d + j] = dc * ij * (1 - cij * cij);
        dPre[gates + 3 * d + j] = dh * coj * oj * (1 - oj);
        dcNext[b * d + j] = dc * fj;
      }
    }
    if (t > 0) recurrentProduct(dPre, t * batch * G, wH, batch, d, dhNext);
  }
  return dPre;
}

/** `out[b, j] = Σ_k g[b, k] · wH[j, k]` for the `batch` rows of `g` starting at `from` (`[B, 4d] × [d, 4d]ᵀ`). */
function recurrentProduct(
  g: Float32Array,
  from: number,
  wH: Float32Array,
  batch: number,
  d: number,
  out: Float64Array,
): void {
  const G = 4 * d;
  for (let b = 0; b < batch; b++) {
    const gb = from + b * G;
    let j = 0;
    // Four weight rows at a time share each load of g (the fastest of the loop orders measured here).
    for (; j + 3 < d; j += 4) {
      const w0 = j * G;
      const w1 = w0 + G;
      const w2 = w1 + G;
      const w3 = w2 + G;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let k = 0; k < G; k++) {
        const x = g[gb + k]!;
        s0 += x * wH[w0 + k]!;
        s1 += x * wH[w1 + k]!;
        s2 += x * wH[w2 + k]!;
        s3 += x * wH[w3 + k]!;
      }
      out[b * d + j] = s0;
      out[b * d + j + 1] = s1;
      out[b * d + j + 2] = s2;
      out[b * d + j + 3] = s3;
    }
    for (; j < d; j++) {
      let s = 0;
      for (let k = 0; k < G; k++) s += g[gb + k]! * wH[j * G + k]!;
      out[b * d + j] = s;
    }
  }
}
