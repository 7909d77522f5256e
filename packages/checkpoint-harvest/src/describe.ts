import type { NetworkSpec } from './network-spec.js';

/** A short human description, e.g. `mlp 784-64-10`, `cnn 28x28x1 conv 8,12,16 → 10`, `resnet 14x14x1 …`. */
export function describeSpec(spec: NetworkSpec): string {
  if (spec.type === 'mlp') return `mlp ${spec.sizes.join('-')}`;
  if (spec.type === 'resnet') {
    const stages = spec.stages.map((s) => `${s.out}×${s.blocks}`).join(',');
    return `resnet ${spec.inputShape.join('x')} stem ${spec.stem.out} stages ${stages} → ${spec.numClasses}`;
  }
  return `cnn ${spec.inputShape.join('x')} conv ${spec.conv.map((c) => c.out).join(',')} → ${spec.numClasses}`;
}
