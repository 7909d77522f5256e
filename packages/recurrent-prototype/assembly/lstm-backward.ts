// Part of src/kernels.wasm (assembly/index.ts; rebuild: pnpm --filter @rpg/recurrent-prototype build:wasm).
// The backward time loop of one LSTM layer; the caller lays the arrays out in this module's memory and passes
// byte offsets. Time-major [L, B, d]: i, cs, f, o, ci, co (the gate activations TensorFlow's BlockLSTMV2 saves);
// dy [B, L, d]; wH [d, 4d] (recurrent weights, gate order i, f, ci, o); out: dPre [L, B, 4d]; dh, dc [B, d] are
// scratch. Float32 throughout; the recurrent product runs four lanes wide (SIMD).

/** The gradient of every step's gate pre-activations, from zero initial states. */
export function gateGradients(
  len: i32,
  batch: i32,
  d: i32,
  i: usize,
  cs: usize,
  f: usize,
  o: usize,
  ci: usize,
  co: usize,
  dy: usize,
  wH: usize,
  dPre: usize,
  dh: usize,
  dc: usize,
): void {
  const G = 4 * d;
  memory.fill(dh, 0, <usize>(batch * d) * 4);
  memory.fill(dc, 0, <usize>(batch * d) * 4);
  for (let t = len - 1; t >= 0; t--) {
    for (let b = 0; b < batch; b++) {
      const row = <usize>((t * batch + b) * d) * 4;
      const gates = dPre + <usize>((t * batch + b) * G) * 4;
      const dyRow = dy + <usize>((b * len + t) * d) * 4;
      const state = <usize>(b * d) * 4;
      for (let j = 0; j < d; j++) {
        const at = row + <usize>j * 4;
        const sj = state + <usize>j * 4;
        const h = load<f32>(dyRow + <usize>j * 4) + load<f32>(dh + sj);
        const oj = load<f32>(o + at);
        const coj = load<f32>(co + at);
        const c = load<f32>(dc + sj) + h * oj * (1 - coj * coj);
        const ij = load<f32>(i + at);
        const fj = load<f32>(f + at);
        const cij = load<f32>(ci + at);
        const cPrev: f32 = t > 0 ? load<f32>(cs + at - <usize>(batch * d) * 4) : 0;
        const g = gates + <usize>j * 4;
        store<f32>(g, c * cij * ij * (1 - ij));
        store<f32>(g + <usize>d * 4, c * cPrev * fj * (1 - fj));
        store<f32>(g + <usize>(2 * d) * 4, c * ij * (1 - cij * cij));
        store<f32>(g + <usize>(3 * d) * 4, h * coj * oj * (1 - oj));
        store<f32>(dc + sj, c * fj);
      }
    }
    if (t > 0) recurrentProduct(dPre + <usize>(t * batch * G) * 4, wH, dh, batch, d);
  }
}

/** `out[b, j] = Σ_k g[b, k] · wH[j, k]`: `[B, 4d] × [d, 4d]ᵀ` (4d is a multiple of 4). */
function recurrentProduct(g: usize, wH: usize, out: usize, batch: i32, d: i32): void {
  const G = 4 * d;
  const wide = G & ~15; // four vectors per iteration, then one at a time
  for (let b = 0; b < batch; b++) {
    const gb = g + <usize>(b * G) * 4;
    for (let j = 0; j < d; j++) {
      const wj = wH + <usize>(j * G) * 4;
      let s0 = f32x4.splat(0);
      let s1 = f32x4.splat(0);
      let s2 = f32x4.splat(0);
      let s3 = f32x4.splat(0);
      let k = 0;
      for (; k < wide; k += 16) {
        const at = <usize>k * 4;
        s0 = f32x4.add(s0, f32x4.mul(v128.load(gb + at), v128.load(wj + at)));
        s1 = f32x4.add(s1, f32x4.mul(v128.load(gb + at + 16), v128.load(wj + at + 16)));
        s2 = f32x4.add(s2, f32x4.mul(v128.load(gb + at + 32), v128.load(wj + at + 32)));
        s3 = f32x4.add(s3, f32x4.mul(v128.load(gb + at + 48), v128.load(wj + at + 48)));
      }
      for (; k < G; k += 4) {
        const at = <usize>k * 4;
        s0 = f32x4.add(s0, f32x4.mul(v128.load(gb + at), v128.load(wj + at)));
      }
      const s = f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3));
      const sum =
        f32x4.extract_lane(s, 0) +
        f32x4.extract_lane(s, 1) +
        f32x4.extract_lane(s, 2) +
        f32x4.extract_lane(s, 3);
      store<f32>(out + <usize>(b * d + j) * 4, sum);
    }
  }
}
