import { numel, type Rng, type StateDict, type TensorEntry, tf } from '@rpg/core';
import { describeSpec } from './describe.js';
import type { NetworkSpec } from './network-spec.js';
import { resnetLayout } from './resnet.js';

export interface ParameterInfo {
  name: string;
  shape: number[];
  dtype: 'F32' | 'I64';
}

export type Role = 'weight' | 'bias' | 'bn-weight' | 'bn-bias' | 'bn-mean' | 'bn-var' | 'bn-count';

export interface LayoutEntry extends ParameterInfo {
  role: Role;
  /** Fan-in of the layer the tensor belongs to (for weight/bias init). */
  fanIn: number;
}

/** The layout under the spec's own tensor names (before `names` maps them). */
export function internalLayout(spec: NetworkSpec): LayoutEntry[] {
  if (spec.type === 'resnet') return resnetLayout(spec);
  const out: LayoutEntry[] = [];
  const f32 = (name: string, shape: number[], role: Role, fanIn: number) =>
    out.push({ name, shape, dtype: 'F32', role, fanIn });
  if (spec.type === 'mlp') {
    for (let i = 0; i + 1 < spec.sizes.length; i++) {
      const fanIn = spec.sizes[i]!;
      const width = spec.sizes[i + 1]!;
      f32(`${2 * i}.weight`, [width, fanIn], 'weight', fanIn);
      f32(`${2 * i}.bias`, [width], 'bias', fanIn);
    }
    return out;
  }
  let channels = spec.inputShape[2];
  spec.conv.forEach((layer, i) => {
    const k = layer.kernel;
    const fanIn = channels * k * k;
    f32(`conv${i + 1}.weight`, [layer.out, channels, k, k], 'weight', fanIn);
    if (layer.bias ?? true) f32(`conv${i + 1}.bias`, [layer.out], 'bias', fanIn);
    const bn = `bn${i + 1}`;
    f32(`${bn}.weight`, [layer.out], 'bn-weight', 0);
    f32(`${bn}.bias`, [layer.out], 'bn-bias', 0);
    f32(`${bn}.running_mean`, [layer.out], 'bn-mean', 0);
    f32(`${bn}.running_var`, [layer.out], 'bn-var', 0);
    out.push({ name: `${bn}.num_batches_tracked`, shape: [], dtype: 'I64', role: 'bn-count', fanIn: 0 });
    channels = layer.out;
  });
  f32('fc.weight', [spec.numClasses, channels], 'weight', channels);
  f32('fc.bias', [spec.numClasses], 'bias', channels);
  return out;
}

/** The layout under the checkpoints' key names (the spec's `names` applied). */
function fullLayout(spec: NetworkSpec): LayoutEntry[] {
  const layout = internalLayout(spec);
  const { names } = spec;
  if (!names) return layout;
  return layout.map((e) => ({ ...e, name: names[e.name] ?? e.name }));
}

/**
 * Every state-dict entry of the network, in PyTorch's `state_dict()` order, with PyTorch names and layouts (the
 * spec's `names` applied).
 */
export function parameterLayout(spec: NetworkSpec): ParameterInfo[] {
  return fullLayout(spec).map(({ name, shape, dtype }) => ({ name, shape: [...shape], dtype }));
}

/** Names of the tensors the optimiser trains (PyTorch's `parameters()`): not running stats, not counters. */
export function trainableNames(spec: NetworkSpec): string[] {
  return fullLayout(spec)
    .filter((e) => e.role !== 'bn-mean' && e.role !== 'bn-var' && e.role !== 'bn-count')
    .map((e) => e.name);
}

/** `sum(p.numel() for p in model.parameters())`: weights, biases and BN affine parameters. */
export function countParameters(spec: NetworkSpec): number {
  const trainable = new Set(trainableNames(spec));
  return fullLayout(spec)
    .filter((e) => trainable.has(e.name))
    .reduce((sum, e) => sum + numel(e.shape), 0);
}

/**
 * PyTorch's default initialisation: Linear and Conv2d weights and biases uniform in ±1/√fan_in (what
 * `kaiming_uniform_(a=√5)` gives for the weight), BatchNorm weight 1, bias 0, running mean 0, running var 1,
 * `num_batches_tracked` 0. Draws from `rng` in layout order.
 */
export function initStateDict(spec: NetworkSpec, rng: Rng): StateDict {
  const sd: StateDict = new Map();
  for (const e of fullLayout(spec)) {
    const n = numel(e.shape);
    let entry: TensorEntry;
    switch (e.role) {
      case 'weight':
      case 'bias': {
        const bound = 1 / Math.sqrt(e.fanIn);
        entry = { dtype: 'F32', shape: [...e.shape], data: rng.uniformArray(n, -bound, bound) };
        break;
      }
      case 'bn-weight':
      case 'bn-var':
        entry = { dtype: 'F32', shape: [...e.shape], data: new Float32Array(n).fill(1) };
        break;
      case 'bn-bias':
      case 'bn-mean':
        entry = { dtype: 'F32', shape: [...e.shape], data: new Float32Array(n) };
        break;
      case 'bn-count':
        entry = { dtype: 'I64', shape: [], data: new BigInt64Array(1) };
        break;
    }
    sd.set(e.name, entry);
  }
  return sd;
}

/**
 * Checks that `sd` has every tensor of the network's layout with the right shape (extra entries are an
 * error too) and returns the float tensors as tfjs tensors (caller disposes). Counters are skipped.
 */
export function stateDictToTensors(spec: NetworkSpec, sd: StateDict): Map<string, tf.Tensor> {
  const layout = fullLayout(spec);
  const problems: string[] = [];
  for (const e of layout) {
    const t = sd.get(e.name);
    if (!t) problems.push(`missing "${e.name}"`);
    else if (t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i])) {
      problems.push(`"${e.name}" has shape [${t.shape}], the network needs [${e.shape}]`);
    } else if (e.dtype === 'F32' && !(t.data instanceof Float32Array || t.data instanceof Float64Array)) {
      problems.push(`"${e.name}" is ${t.dtype}, the network needs a float tensor`);
    }
  }
  const known = new Set(layout.map((e) => e.name));
  for (const name of sd.keys()) if (!known.has(name)) problems.push(`unexpected "${name}"`);
  if (problems.length > 0) {
    throw new Error(`state dict does not fit the ${describeSpec(spec)}: ${problems.slice(0, 10).join('; ')}`);
  }
  const out = new Map<string, tf.Tensor>();
  for (const e of layout) {
    if (e.dtype !== 'F32') continue;
    const t = sd.get(e.name)!;
    const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as Float64Array);
    out.set(e.name, tf.tensor(data, e.shape, 'float32'));
  }
  return out;
}
