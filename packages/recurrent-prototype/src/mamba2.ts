import { type Rng, tf } from '@rpg/core';
import { dense } from './dense-and-norms.js';
import { gatedRmsNormOp, siluOp } from './mamba2-ops.js';
import type { ParamStore } from './param-store.js';
import type { SequenceStage } from './sequence-model.js';
import { chunkedScan, chunkedScanCarry, sequentialScan } from './ssd-scan.js';

export interface Mamba2Options {
  dModel: number;
  dState: number;
  expand: number;
  convWidth: number;
  headDim: number;
  chunkSize: number;
  /** 'chunked' (SSD form, default) or 'sequential' (reference scan, slow). */
  scan?: 'chunked' | 'sequential';
}

/**
 * One Mamba2-style selective state-space block (one B/C group):
 * in_proj → (z, x, B, C, Δ); depthwise causal conv1d (width 4) + SiLU over x, B, C; Δ = softplus(Δ + dt_bias);
 * A = −exp(A_log) per head; y = SSM(x, Δ, A, B, C) + D·x; out_proj(RMSNorm(y · SiLU(z))).
 * Initialisation follows the reference (A ~ U[1, 16], Δ ~ log-U[1e-3, 0.1] through inverse softplus, D = 1).
 */
export class Mamba2Block {
  readonly dInner: number;
  readonly heads: number;
  /** Which scan runs the recurrence; both give the same numbers (to float rounding). */
  scan: 'chunked' | 'sequential';
  private readonly opts: Mamba2Options;
  private readonly inProj: tf.Variable;
  private readonly convW: tf.Variable;
  private readonly convB: tf.Variable;
  private readonly dtBias: tf.Variable;
  private readonly aLog: tf.Variable;
  private readonly dSkip: tf.Variable;
  private readonly normW: tf.Variable;
  private readonly outProj: tf.Variable;

  constructor(opts: Mamba2Options, store: ParamStore, rng: Rng, prefix: string) {
    this.opts = opts;
    this.scan = opts.scan ?? 'chunked';
    const { dModel, dState, expand, convWidth, headDim } = opts;
    this.dInner = expand * dModel;
    if (this.dInner % headDim !== 0) {
      throw new Error(`mamba2: headDim ${headDim} must divide d_inner = expand·d = ${this.dInner}`);
    }
    this.heads = this.dInner / headDim;
    const convDim = this.dInner + 2 * dState;
    const dInProj = 2 * this.dInner + 2 * dState + this.heads;
    this.inProj = store.uniform(`${prefix}.in_proj.weight`, [dModel, dInProj], 1 / Math.sqrt(dModel), rng);
    // Depthwise filter in tfjs layout [1, width, channels, 1]; PyTorch's bound 1/√(fan_in) with fan_in = width.
    this.convW = store.uniform(
      `${prefix}.conv1d.weight`,
      [1, convWidth, convDim, 1],
      1 / Math.sqrt(convWidth),
      rng,
    );
    this.convB = store.uniform(`${prefix}.conv1d.bias`, [convDim], 1 / Math.sqrt(convWidth), rng);
    const dtInit = new Float32Array(this.heads);
    const aInit = new Float32Array(this.heads);
    const [dtMin, dtMax] = [1e-3, 0.1];
    for (let h = 0; h < this.heads; h++) {
      const dt = Math.max(
        1e-4,
        Math.exp(rng.uniform() * (Math.log(dtMax) - Math.log(dtMin)) + Math.log(dtMin)),
      );
      dtInit[h] = dt + Math.log(-Math.expm1(-dt)); // inverse softplus
      aInit[h] = Math.log(1 + 15 * rng.uniform());
    }
    this.dtBias = store.add(`${prefix}.dt_bias`, [this.heads], dtInit);
    this.aLog = store.add(`${prefix}.A_log`, [this.heads], aInit);
    this.dSkip = store.fill(`${prefix}.D`, [this.heads], 1);
    this.normW = store.fill(`${prefix}.norm.weight`, [this.dInner], 1);
    this.outProj = store.uniform(
      `${prefix}.out_proj.weight`,
      [this.dInner, dModel],
      1 / Math.sqrt(this.dInner),
      rng,
    );
  }

  /** `[B, L, d] → [B, L, d]`, causal. */
  forward(u: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => this.run(u, undefined, false).y);
  }

  /**
   * One block `[B, l, d]` of a longer sequence, continuing from `carry` (the previous block's; absent: the
   * sequence's start) → the block's outputs and its own carry `[tail, state]`: the conv inputs of its last
   * convWidth − 1 steps `[B, convWidth − 1, d_inner + 2N]` and the SSM state `[B, H, P, N]`. Blocks run one
   * after another give {@link forward}'s outputs to float rounding.
   */
  forwardBlock(u: tf.Tensor3D, carry?: tf.Tensor[]): { y: tf.Tensor3D; carry: tf.Tensor[] } {
    if (this.scan === 'sequential') throw new Error('mamba2: forwardBlock needs the chunked scan');
    return tf.tidy(() => {
      const { y, carry: out } = this.run(u, carry, true);
      return { y, carry: out! };
    });
  }

  private run(
    u: tf.Tensor3D,
    carry: tf.Tensor[] | undefined,
    wantCarry: boolean,
  ): { y: tf.Tensor3D; carry?: tf.Tensor[] } {
    const { dState: n, convWidth: k, headDim } = this.opts;
    const [batch, len] = u.shape;
    const { dInner, heads } = this;
    const convDim = dInner + 2 * n;
    const zxbcdt = dense(u, this.inProj as tf.Tensor2D);
    const [z, xbc, dtRaw] = tf.split(zxbcdt, [dInner, convDim, heads], 2) as [
      tf.Tensor3D,
      tf.Tensor3D,
      tf.Tensor3D,
    ];

    // Causal depthwise conv: the previous block's last width−1 steps (at the start: zeros) on the left, then
    // 'valid' cross-correlation (as PyTorch's conv1d).
    const padded = carry
      ? tf.concat([carry[0]!, xbc], 1)
      : tf.pad(xbc, [
          [0, 0],
          [k - 1, 0],
          [0, 0],
        ]);
    const conv = tf.depthwiseConv2d(
      padded.reshape([batch, 1, len + k - 1, convDim]) as tf.Tensor4D,
      this.convW as tf.Tensor4D,
      1,
      'valid',
    );
    const xbcAct = siluOp(tf.add(conv.reshape([batch, len, convDim]), this.convB)) as tf.Tensor3D;
    const [x, bMat, cMat] = tf.split(xbcAct, [dInner, n, n], 2) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];

    const dt = tf.softplus(tf.add(dtRaw, this.dtBias)) as tf.Tensor3D;
    const a = tf.neg(tf.exp(this.aLog)) as tf.Tensor1D;
    const xh = x.reshape([batch, len, heads, headDim]) as tf.Tensor4D;
    const scanInputs = { x: xh, dt, a, bMat, cMat };
    const chunking = { chunkSize: this.opts.chunkSize };
    let ySsm: tf.Tensor4D;
    let state: tf.Tensor4D | undefined;
    if (wantCarry) ({ y: ySsm, state } = chunkedScanCarry(scanInputs, chunking, carry?.[1] as tf.Tensor4D));
    else ySsm = this.scan === 'sequential' ? sequentialScan(scanInputs) : chunkedScan(scanInputs, chunking);
    const y = tf.add(ySsm, tf.mul(xh, this.dSkip.reshape([heads, 1]))).reshape([batch, len, dInner]);

    const gated = gatedRmsNormOp(y as tf.Tensor3D, z, this.normW as tf.Tensor1D);
    const out = dense(gated, this.outProj as tf.Tensor2D);
    if (!wantCarry) return { y: out };
    const tail = tf.slice(padded, [0, len, 0], [batch, k - 1, convDim]);
    return { y: out, carry: [tail, state!] };
  }
}

/** Mamba2 blocks applied one after another, with no residual between them (as the method describes). */
export class Mamba2Stack {
  readonly recomputeSaves = true;
  private readonly blocks: Mamba2Block[];

  constructor(layers: number, opts: Mamba2Options, store: ParamStore, rng: Rng, prefix = 'mamba') {
    this.blocks = Array.from(
      { length: layers },
      (_, i) => new Mamba2Block(opts, store, rng, `${prefix}.${i}`),
    );
  }

  setScan(scan: 'chunked' | 'sequential'): void {
    for (const b of this.blocks) b.scan = scan;
  }

  forward(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => this.blocks.reduce((h, block) => block.forward(h), x));
  }

  stages(): SequenceStage[] {
    return this.blocks.map((block) => ({
      forward: (x) => block.forward(x),
      ...(block.scan === 'chunked' ? { block: (x, carry) => block.forwardBlock(x, carry) } : {}),
    }));
  }
}
