// Part of src/kernels.wasm (assembly/index.ts; rebuild: pnpm --filter @rpg/recurrent-prototype build:wasm).
// The Mamba2 (SSD) scan of one layer, forward and backward, one sequence and head at a time. Row-major float32
// arrays at byte offsets: x [B, L, H, P], dt [B, L, H], a [H], bm and cm [B, L, N], y [B, L, H, P]. N is a
// multiple of 4: a state row [N] is N/4 SIMD vectors.
//   s_t = exp(dt_t·a)·s_{t-1} + (x_t·dt_t) ⊗ B_t,  y_t = s_t · C_t,  s_{-1} = 0  (per sequence and head; s is [P, N])
// The forward pass keeps the state before every `seg`-th step (`checkpoints` [B, H, ⌈L/seg⌉, P, N]); the backward
// pass recomputes each segment's states from there into `scratch` [(seg + 1), P, N], so its memory is a few
// states, not L.

/** y, and the checkpoints for {@link scanBackward}. */
export function scanForward(
  batch: i32,
  len: i32,
  heads: i32,
  p: i32,
  n: i32,
  seg: i32,
  x: usize,
  dt: usize,
  a: usize,
  bm: usize,
  cm: usize,
  y: usize,
  checkpoints: usize,
  state: usize,
): void {
  setSizes(len, heads, p, n, seg);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      memory.fill(state, 0, stateBytes);
      const ah = load<f32>(a + <usize>h * 4);
      const cp = checkpointsOf(checkpoints, b, h);
      for (let t = 0; t < len; t++) {
        if (t % seg === 0) memory.copy(cp + <usize>(t / seg) * stateBytes, state, stateBytes);
        const at = headIndex(b, t, h);
        advance(
          state,
          ah,
          load<f32>(dt + at * 4),
          x + at * <usize>p * 4,
          bm,
          cm,
          b,
          t,
          y + at * <usize>p * 4,
        );
      }
    }
  }
}

// The sizes of the current call, set once by each exported function so the helpers below need not take them.
let seqLen: i32 = 0;
let headCount: i32 = 0;
let segments: i32 = 0;
let stateP: i32 = 0;
let stateN: i32 = 0;
let stateBytes: usize = 0;

function setSizes(len: i32, heads: i32, p: i32, n: i32, seg: i32): void {
  seqLen = len;
  headCount = heads;
  segments = (len + seg - 1) / seg;
  stateP = p;
  stateN = n;
  stateBytes = <usize>(p * n) * 4;
}

/** The index of (sequence b, position t, head h) in a [B, L, H] array. */
function headIndex(b: i32, t: i32, h: i32): usize {
  return <usize>(b * seqLen + t) * <usize>headCount + <usize>h;
}

/** The byte offset of position t's row in a [B, L, N] array at `base`. */
function nRow(base: usize, b: i32, t: i32): usize {
  return base + <usize>(b * seqLen + t) * <usize>stateN * 4;
}

/** Where sequence b and head h's checkpoints [⌈L/seg⌉, P, N] start. */
function checkpointsOf(checkpoints: usize, b: i32, h: i32): usize {
  return checkpoints + <usize>((b * headCount + h) * segments) * stateBytes;
}

/** Advances `state` by step t of sequence b (head decay rate `ah`, step size `dtv`, input row `xRow`). */
function advance(
  state: usize,
  ah: f32,
  dtv: f32,
  xRow: usize,
  bm: usize,
  cm: usize,
  b: i32,
  t: i32,
  yRow: usize,
): void {
  step(state, Mathf.exp(dtv * ah), dtv, xRow, nRow(bm, b, t), nRow(cm, b, t), yRow, stateP, stateN);
}

/** One step of the recurrence on `state` [P, N]; writes y_t to `yRow` unless it is 0. */
function step(
  state: usize,
  decay: f32,
  dtv: f32,
  xRow: usize,
  bRow: usize,
  cRow: usize,
  yRow: usize,
  p: i32,
  n: i32,
): void {
  const vd = f32x4.splat(decay);
  for (let i = 0; i < p; i++) {
    const vu = f32x4.splat(load<f32>(xRow + <usize>i * 4) * dtv);
    const row = state + <usize>(i * n) * 4;
    let acc = f32x4.splat(0);
    for (let k = 0; k < n; k += 4) {
      const at = <usize>k * 4;
      const s = f32x4.add(f32x4.mul(v128.load(row + at), vd), f32x4.mul(vu, v128.load(bRow + at)));
      v128.store(row + at, s);
      acc = f32x4.add(acc, f32x4.mul(s, v128.load(cRow + at)));
    }
    if (yRow !== 0) store<f32>(yRow + <usize>i * 4, hsum(acc));
  }
}

/**
 * Gradients from dy [B, L, H, P]: dx [B, L, H, P], ddt [B, L, H], da [H], dbm and dcm [B, L, N] (all written,
 * not accumulated into). `ds` [P, N] and `scratch` [(seg + 1), P, N] are work space.
 */
export function scanBackward(
  batch: i32,
  len: i32,
  heads: i32,
  p: i32,
  n: i32,
  seg: i32,
  x: usize,
  dt: usize,
  a: usize,
  bm: usize,
  cm: usize,
  checkpoints: usize,
  dy: usize,
  dx: usize,
  ddt: usize,
  da: usize,
  dbm: usize,
  dcm: usize,
  ds: usize,
  scratch: usize,
): void {
  setSizes(len, heads, p, n, seg);
  memory.fill(da, 0, <usize>heads * 4);
  memory.fill(dbm, 0, <usize>(batch * len * n) * 4);
  memory.fill(dcm, 0, <usize>(batch * len * n) * 4);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      memory.fill(ds, 0, stateBytes);
      const ah = load<f32>(a + <usize>h * 4);
      const cp = checkpointsOf(checkpoints, b, h);
      let daSum: f32 = 0;
      for (let sIdx = segments - 1; sIdx >= 0; sIdx--) {
        const t0 = sIdx * seg;
        const t1 = min(t0 + seg, len);
        // scratch[k] = the state after step t0 + k − 1 (scratch[0]: before t0).
        memory.copy(scratch, cp + <usize>sIdx * stateBytes, stateBytes);
        for (let t = t0; t < t1; t++) {
          const at = headIndex(b, t, h);
          const next = scratch + <usize>(t - t0 + 1) * stateBytes;
          memory.copy(next, next - stateBytes, stateBytes);
          advance(next, ah, load<f32>(dt + at * 4), x + at * <usize>p * 4, bm, cm, b, t, 0);
        }
        for (let t = t1 - 1; t >= t0; t--) {
          const at = headIndex(b, t, h);
          const dtv = load<f32>(dt + at * 4);
          const decay = Mathf.exp(dtv * ah);
          const sNow = scratch + <usize>(t - t0 + 1) * stateBytes;
          const dDecay = stepBack(
            ds,
            sNow,
            sNow - stateBytes,
            decay,
            dtv,
            x + at * <usize>p * 4,
            dy + at * <usize>p * 4,
            dx + at * <usize>p * 4,
            nRow(bm, b, t),
            nRow(cm, b, t),
            nRow(dbm, b, t),
            nRow(dcm, b, t),
            ddt + at * 4,
            p,
            n,
          );
          // ∂decay/∂dt = decay·a, ∂decay/∂a = decay·dt (stepBack wrote ddt's share through x·dt).
          store<f32>(ddt + at * 4, load<f32>(ddt + at * 4) + dDecay * decay * ah);
          daSum += dDecay * decay * dtv;
        }
      }
      store<f32>(da + <usize>h * 4, load<f32>(da + <usize>h * 4) + daSum);
    }
  }
}

/**
 * One step back: `ds` [P, N] arrives as ∂/∂s_t from later steps, gains dy_t ⊗ C_t, gives this step's dx and
 * its share of ddt through x·dt (written to `ddtAt`), its shares of dB and dC (accumulated over heads), and
 * leaves ∂/∂s_{t−1} = decay·ds. Returns ∂/∂decay = Σ ds ⊙ s_{t−1}.
 */
function stepBack(
  ds: usize,
  sNow: usize,
  sPrev: usize,
  decay: f32,
  dtv: f32,
  xRow: usize,
  dyRow: usize,
  dxRow: usize,
  bRow: usize,
  cRow: usize,
  dbRow: usize,
  dcRow: usize,
  ddtAt: usize,
  p: i32,
  n: i32,
): f32 {
  const vd = f32x4.splat(decay);
  let dDecay = f32x4.splat(0);
  let dtFromX: f32 = 0;
  for (let i = 0; i < p; i++) {
    const xi = load<f32>(xRow + <usize>i * 4);
    const vdy = f32x4.splat(load<f32>(dyRow + <usize>i * 4));
    const vu = f32x4.splat(xi * dtv);
    const row = <usize>(i * n) * 4;
    let du = f32x4.splat(0);
    for (let k = 0; k < n; k += 4) {
      const at = <usize>k * 4;
      const g = f32x4.add(v128.load(ds + row + at), f32x4.mul(vdy, v128.load(cRow + at)));
      v128.store(dcRow + at, f32x4.add(v128.load(dcRow + at), f32x4.mul(v128.load(sNow + row + at), vdy)));
      du = f32x4.add(du, f32x4.mul(g, v128.load(bRow + at)));
      v128.store(dbRow + at, f32x4.add(v128.load(dbRow + at), f32x4.mul(g, vu)));
      dDecay = f32x4.add(dDecay, f32x4.mul(g, v128.load(sPrev + row + at)));
      v128.store(ds + row + at, f32x4.mul(g, vd));
    }
    const dui = hsum(du);
    store<f32>(dxRow + <usize>i * 4, dui * dtv);
    dtFromX += dui * xi;
  }
  store<f32>(ddtAt, dtFromX);
  return hsum(dDecay);
}

function hsum(v: v128): f32 {
  return (
    f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3)
  );
}
