import { numel } from '@rpg/core';
import { z } from 'zod';
import { internalLayout } from './layout.js';
import { convOut, resnetFeatureSizes, resnetSpecSchema } from './resnet.js';

const positiveInt = z.number().int().positive();

/**
 * Spec tensor name → the key the checkpoints use (e.g. `{"conv1.weight": "0.weight"}` for an `nn.Sequential`).
 * Names left out keep the spec's own.
 */
const namesSchema = z.record(z.string().min(1), z.string().min(1)).optional();

/**
 * One conv block: Conv2d(in → out, kernel, stride, padding, bias) → BatchNorm2d → ReLU → (MaxPool2d(2) if
 * `pool`). Defaults are PyTorch's; `padding` is required because an earlier format defaulted it to k/2.
 */
export const convLayerSchema = z
  .object({
    out: positiveInt,
    kernel: positiveInt,
    /** Default 1, as PyTorch's. */
    stride: positiveInt.optional(),
    /** Zero padding on every side (PyTorch `padding`); required. */
    padding: z
      .number({
        error:
          'padding is required: PyTorch Conv2d padding, e.g. 1 for a 3×3 conv that keeps the size, 0 for none',
      })
      .int()
      .nonnegative(),
    /** 2×2 max pool with stride 2 after the ReLU (PyTorch `MaxPool2d(2)`, floor mode). Default false. */
    pool: z.boolean().optional(),
    /** Conv bias; default true, as PyTorch's (a BatchNorm after it makes it redundant: set false). */
    bias: z.boolean().optional(),
  })
  .strict();
export type ConvLayerSpec = z.infer<typeof convLayerSchema>;

/** `nn.Sequential(Linear(s0, s1), ReLU, Linear(s1, s2), ReLU, …, Linear)`: state names `0.weight, 0.bias, 2.weight, …`. */
export const mlpSpecSchema = z
  .object({
    type: z.literal('mlp'),
    /** Layer widths, input first, number of classes last. */
    sizes: z.array(positiveInt).min(2),
    names: namesSchema,
  })
  .strict();

/**
 * Conv blocks (see {@link convLayerSchema}) → global average pool → Linear(last out → numClasses). State names
 * (1-based): `conv1.weight`, [`conv1.bias`], `bn1.weight`, `bn1.bias`, `bn1.running_mean`, `bn1.running_var`,
 * `bn1.num_batches_tracked`, `conv2.weight`, …, `fc.weight`, `fc.bias` — what a PyTorch module with attributes
 * conv1, bn1, conv2, bn2, …, fc registered in that order gives.
 */
export const cnnSpecSchema = z
  .object({
    type: z.literal('cnn'),
    /** `[height, width, channels]` of one input (tensors are NHWC inside tfjs). */
    inputShape: z.tuple([positiveInt, positiveInt, positiveInt]),
    conv: z.array(convLayerSchema).min(1),
    numClasses: z.number().int().min(2),
    names: namesSchema,
  })
  .strict();

export const networkSpecSchema = z
  .discriminatedUnion('type', [mlpSpecSchema, cnnSpecSchema, resnetSpecSchema])
  .superRefine((spec, ctx) => {
    if (spec.type === 'cnn') {
      let [h, w] = spec.inputShape;
      spec.conv.forEach((layer, i) => {
        const s = layer.stride ?? 1;
        h = convOut(h, layer.kernel, s, layer.padding);
        w = convOut(w, layer.kernel, s, layer.padding);
        if (layer.pool) {
          h = Math.floor(h / 2);
          w = Math.floor(w / 2);
        }
        if (h < 1 || w < 1) {
          ctx.addIssue({
            code: 'custom',
            path: ['conv', i],
            message: `conv block ${i + 1} shrinks the feature map to ${h}×${w}; use a smaller kernel/stride or fewer pools`,
          });
        }
      });
    }
    if (spec.type === 'resnet') {
      const small = resnetFeatureSizes(spec).find((f) => f.h < 1 || f.w < 1);
      if (small) {
        ctx.addIssue({
          code: 'custom',
          path: small.where,
          message: `the feature map shrinks to ${small.h}×${small.w} here; use a smaller stride or padding more`,
        });
        return;
      }
    }
    if (spec.names) checkNames(spec as NetworkSpec, spec.names, ctx);
  });

function checkNames(spec: NetworkSpec, names: Record<string, string>, ctx: z.RefinementCtx): void {
  const own = internalLayout(spec).map((e) => e.name);
  const known = new Set(own);
  for (const from of Object.keys(names)) {
    if (!known.has(from)) {
      ctx.addIssue({
        code: 'custom',
        path: ['names', from],
        message: `"${from}" is not a tensor of this network (its tensors: ${own.slice(0, 8).join(', ')}${own.length > 8 ? ', …' : ''})`,
      });
    }
  }
  const seen = new Map<string, string>();
  for (const name of own) {
    const to = names[name] ?? name;
    const other = seen.get(to);
    if (other !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['names', names[name] !== undefined ? name : other],
        message: `"${other}" and "${name}" would both be stored as "${to}"; every key must be distinct`,
      });
    }
    seen.set(to, name);
  }
}

export type MlpSpec = z.infer<typeof mlpSpecSchema>;
export type CnnSpec = z.infer<typeof cnnSpecSchema>;
export type NetworkSpec = z.infer<typeof networkSpecSchema>;

/** MNIST MLP 784-64-10: 50,890 parameters (784·64 + 64 + 64·10 + 10). */
export const MLP_MNIST: NetworkSpec = { type: 'mlp', sizes: [784, 64, 10] };

/** The MNIST CNNs' shape: three 3×3 bias-free convs (BatchNorm, ReLU) at `widths`, the first two max-pooled. */
function mnistCnn([a, b, c]: [number, number, number]): NetworkSpec {
  return {
    type: 'cnn',
    inputShape: [28, 28, 1],
    conv: [
      { out: a, kernel: 3, padding: 1, bias: false, pool: true },
      { out: b, kernel: 3, padding: 1, bias: false, pool: true },
      { out: c, kernel: 3, padding: 1, bias: false },
    ],
    numClasses: 10,
  };
}

/**
 * CNN(s) for MNIST, 2,906 trainable parameters (paper's CIFAR CNN(s): 2,864): conv 1→8 (72) + BN (16), pool;
 * conv 8→12 (864) + BN (24), pool; conv 12→16 (1,728) + BN (32); GAP; fc 16→10 (170). Plus 72 BN running-stat
 * floats and 3 `num_batches_tracked`.
 */
export const CNN_S_MNIST: NetworkSpec = mnistCnn([8, 12, 16]);

/**
 * CNN(m) for MNIST, 10,986 trainable parameters (paper's CIFAR CNN(m): 10,853): conv 1→16 (144) + BN (32), pool;
 * conv 16→24 (3,456) + BN (48), pool; conv 24→32 (6,912) + BN (64); GAP; fc 32→10 (330). Plus 144 BN
 * running-stat floats and 3 `num_batches_tracked`.
 */
export const CNN_M_MNIST: NetworkSpec = mnistCnn([16, 24, 32]);

/** Named presets (the CLI's `--network` values). */
export const NETWORK_PRESETS: Record<'mlp' | 'cnn-s' | 'cnn-m', NetworkSpec> = {
  mlp: MLP_MNIST,
  'cnn-s': CNN_S_MNIST,
  'cnn-m': CNN_M_MNIST,
};

/** Validates an untrusted spec; the error names the bad field. */
export function parseNetworkSpec(spec: unknown): NetworkSpec {
  const result = networkSpecSchema.safeParse(spec);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new Error(
    `invalid network spec at "${issue?.path.join('.') || '(root)'}": ${issue?.message ?? 'invalid'}`,
  );
}

/** Number of input values per example (`prod(inputShape)`). */
export function inputSize(spec: NetworkSpec): number {
  return spec.type === 'mlp' ? spec.sizes[0]! : numel(spec.inputShape);
}

export function numClassesOf(spec: NetworkSpec): number {
  return spec.type === 'mlp' ? spec.sizes[spec.sizes.length - 1]! : spec.numClasses;
}

/** `[height, width, channels]` the network takes, or undefined for a flat-input MLP. */
export function imageShapeOf(spec: NetworkSpec): [number, number, number] | undefined {
  return spec.type === 'mlp' ? undefined : spec.inputShape;
}

export { describeSpec } from './describe.js';
