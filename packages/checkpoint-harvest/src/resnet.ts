import { tf } from '@rpg/core';
import { z } from 'zod';
import { BN_EPS, batchNormTrain, conv2d, type ParamLookup } from './layers.js';
import type { LayoutEntry } from './layout.js';

const positiveInt = z.number().int().positive();

/** One stage: `blocks` basic blocks of width `out`; the first one strides by `stride` (default 1). */
export const resnetStageSchema = z
  .object({
    out: positiveInt,
    blocks: positiveInt,
    stride: positiveInt.optional(),
  })
  .strict();

/**
 * A torchvision-style ResNet of basic blocks, `torchvision.models.resnet.ResNet(BasicBlock, …)` without the stem
 * max-pool (small inputs): `conv1` (kernel, stride, padding as given, no bias) → `bn1` → ReLU → stages
 * `layer1…layerN` → global average pool → `fc`. Block `layerS.B`: `conv1` 3×3 (stride on the stage's first
 * block, padding 1, no bias) → `bn1` → ReLU → `conv2` 3×3 → `bn2`, plus the shortcut — the identity, or
 * `downsample.0` (1×1 conv with the stride, no bias) → `downsample.1` (BatchNorm) where stride or width changes —
 * then ReLU. State names are torchvision's, so a checkpoint loads into that module with `load_state_dict`.
 */
export const resnetSpecSchema = z
  .object({
    type: z.literal('resnet'),
    /** `[height, width, channels]` of one input (tensors are NHWC inside tfjs). */
    inputShape: z.tuple([positiveInt, positiveInt, positiveInt]),
    stem: z
      .object({
        out: positiveInt,
        kernel: positiveInt,
        /** Default 1 (PyTorch's). */
        stride: positiveInt.optional(),
        /** Zero padding on every side; required, as torchvision's stem sets it explicitly. */
        padding: z.number().int().nonnegative(),
      })
      .strict(),
    stages: z.array(resnetStageSchema).min(1),
    numClasses: z.number().int().min(2),
    /** Spec tensor name → key in the checkpoints (see the README's network spec section). */
    names: z.record(z.string(), z.string()).optional(),
  })
  .strict();

export type ResnetSpec = z.infer<typeof resnetSpecSchema>;

/** The feature-map side after a conv of `kernel`, `stride`, `padding` (PyTorch's floor rule). */
export function convOut(side: number, kernel: number, stride: number, padding: number): number {
  return Math.floor((side + 2 * padding - kernel) / stride) + 1;
}

/** Sizes after the stem and after each stage, for the spec check; the first that reaches < 1 is an error. */
export function resnetFeatureSizes(spec: ResnetSpec): { where: (string | number)[]; h: number; w: number }[] {
  const { stem } = spec;
  let h = convOut(spec.inputShape[0], stem.kernel, stem.stride ?? 1, stem.padding);
  let w = convOut(spec.inputShape[1], stem.kernel, stem.stride ?? 1, stem.padding);
  const out: { where: (string | number)[]; h: number; w: number }[] = [{ where: ['stem'], h, w }];
  spec.stages.forEach((stage, i) => {
    h = convOut(h, 3, stage.stride ?? 1, 1);
    w = convOut(w, 3, stage.stride ?? 1, 1);
    out.push({ where: ['stages', i], h, w });
  });
  return out;
}

interface BlockShape {
  prefix: string;
  cin: number;
  cout: number;
  stride: number;
  downsample: boolean;
}

function blocks(spec: ResnetSpec): BlockShape[] {
  const out: BlockShape[] = [];
  let channels = spec.stem.out;
  spec.stages.forEach((stage, s) => {
    for (let b = 0; b < stage.blocks; b++) {
      const stride = b === 0 ? (stage.stride ?? 1) : 1;
      out.push({
        prefix: `layer${s + 1}.${b}`,
        cin: channels,
        cout: stage.out,
        stride,
        downsample: stride !== 1 || channels !== stage.out,
      });
      channels = stage.out;
    }
  });
  return out;
}

/** Every tensor in torchvision's `state_dict()` order (module registration order: conv1, bn1, layer…, fc). */
export function resnetLayout(spec: ResnetSpec): LayoutEntry[] {
  const out: LayoutEntry[] = [];
  const convW = (name: string, cout: number, cin: number, k: number) =>
    out.push({ name, shape: [cout, cin, k, k], dtype: 'F32', role: 'weight', fanIn: cin * k * k });
  const bn = (name: string, c: number) => {
    out.push({ name: `${name}.weight`, shape: [c], dtype: 'F32', role: 'bn-weight', fanIn: 0 });
    out.push({ name: `${name}.bias`, shape: [c], dtype: 'F32', role: 'bn-bias', fanIn: 0 });
    out.push({ name: `${name}.running_mean`, shape: [c], dtype: 'F32', role: 'bn-mean', fanIn: 0 });
    out.push({ name: `${name}.running_var`, shape: [c], dtype: 'F32', role: 'bn-var', fanIn: 0 });
    out.push({ name: `${name}.num_batches_tracked`, shape: [], dtype: 'I64', role: 'bn-count', fanIn: 0 });
  };
  convW('conv1.weight', spec.stem.out, spec.inputShape[2], spec.stem.kernel);
  bn('bn1', spec.stem.out);
  let channels = spec.stem.out;
  for (const b of blocks(spec)) {
    convW(`${b.prefix}.conv1.weight`, b.cout, b.cin, 3);
    bn(`${b.prefix}.bn1`, b.cout);
    convW(`${b.prefix}.conv2.weight`, b.cout, b.cout, 3);
    bn(`${b.prefix}.bn2`, b.cout);
    if (b.downsample) {
      convW(`${b.prefix}.downsample.0.weight`, b.cout, b.cin, 1);
      bn(`${b.prefix}.downsample.1`, b.cout);
    }
    channels = b.cout;
  }
  out.push({
    name: 'fc.weight',
    shape: [spec.numClasses, channels],
    dtype: 'F32',
    role: 'weight',
    fanIn: channels,
  });
  out.push({ name: 'fc.bias', shape: [spec.numClasses], dtype: 'F32', role: 'bias', fanIn: channels });
  return out;
}

/**
 * Conv (no bias) → BatchNorm. 'train': batch statistics, the running-stat update recorded in `stats`; 'eval':
 * BatchNorm folded into the conv's kernel and a bias (the same function up to float round-off).
 */
function convBn(
  h: tf.Tensor4D,
  p: ParamLookup,
  convName: string,
  bnName: string,
  stride: number,
  padding: number,
  mode: 'train' | 'eval',
  stats: Map<string, tf.Tensor>,
): tf.Tensor4D {
  const gamma = p.get(`${bnName}.weight`);
  const beta = p.get(`${bnName}.bias`);
  const runningMean = p.get(`${bnName}.running_mean`);
  const runningVar = p.get(`${bnName}.running_var`);
  let kernel = tf.transpose(p.get(`${convName}.weight`), [2, 3, 1, 0]) as tf.Tensor4D;
  if (mode === 'eval') {
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(runningVar, BN_EPS)));
    kernel = tf.mul(kernel, scale);
    const bias = tf.sub(beta, tf.mul(runningMean, scale));
    return tf.add(conv2d(h, kernel, stride, padding), bias);
  }
  const out = batchNormTrain(conv2d(h, kernel, stride, padding), gamma, beta, runningMean, runningVar);
  stats.set(p.key(`${bnName}.running_mean`), out.runningMean);
  stats.set(p.key(`${bnName}.running_var`), out.runningVar);
  return out.y;
}

/** The features before the head: `[n, channels]` after the global average pool. */
export function resnetFeatures(
  spec: ResnetSpec,
  p: ParamLookup,
  x: tf.Tensor,
  mode: 'train' | 'eval',
  stats: Map<string, tf.Tensor>,
): tf.Tensor2D {
  const { stem } = spec;
  let h = tf.reshape(x, [-1, ...spec.inputShape]) as tf.Tensor4D;
  h = tf.relu(convBn(h, p, 'conv1', 'bn1', stem.stride ?? 1, stem.padding, mode, stats));
  for (const b of blocks(spec)) {
    const y = tf.relu(convBn(h, p, `${b.prefix}.conv1`, `${b.prefix}.bn1`, b.stride, 1, mode, stats));
    const z2 = convBn(y, p, `${b.prefix}.conv2`, `${b.prefix}.bn2`, 1, 1, mode, stats);
    const shortcut = b.downsample
      ? convBn(h, p, `${b.prefix}.downsample.0`, `${b.prefix}.downsample.1`, b.stride, 0, mode, stats)
      : h;
    h = tf.relu(tf.add(z2, shortcut)) as tf.Tensor4D;
  }
  return tf.mean(h, [1, 2]) as tf.Tensor2D;
}
