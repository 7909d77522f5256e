// The network zoo: specs (network-spec.ts, resnet.ts), layouts and initialisation (layout.ts), the forward pass
// (forward.ts, layers.ts) and inference (inference.ts).
export * from './describe.js';
export * from './forward.js';
export * from './inference.js';
export * from './layout.js';
export * from './network-spec.js';
export { convOut, type ResnetSpec, resnetSpecSchema, resnetStageSchema } from './resnet.js';
