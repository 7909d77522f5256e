import type { Rng, tf } from '@rpg/core';
import { defaultAttentionMemoryMB } from './attention-memory.js';
import type { ResolvedPrototypeConfig } from './config.js';
import { GatedMlpStack } from './gated-mlp.js';
import { LstmStack } from './lstm.js';
import { Mamba2Stack } from './mamba2.js';
import type { ParamStore } from './param-store.js';
import { TransformerStack } from './transformer.js';

/** Maps the input sequence `[B, L, d]` to prototypes `[B, L, d]`. */
export interface SequenceModel {
  forward(x: tf.Tensor3D): tf.Tensor3D;
  /** True when positions never interact, so a subset of rows can be computed on its own. */
  readonly positionwise?: boolean;
}

/** Builds the configured sequence model, registering its variables in `store`. */
export function createSequenceModel(
  config: ResolvedPrototypeConfig,
  store: ParamStore,
  rng: Rng,
): SequenceModel {
  const { model, d, layers } = config;
  switch (model) {
    case 'mamba2':
      return new Mamba2Stack(
        layers,
        {
          dModel: d,
          dState: config.dState,
          expand: config.expand,
          convWidth: config.convWidth,
          headDim: config.headDim,
          chunkSize: config.chunkSize,
        },
        store,
        rng,
      );
    case 'lstm':
      return new LstmStack(layers, d, store, rng);
    case 'transformer':
      return new TransformerStack(
        layers,
        d,
        config.heads,
        store,
        rng,
        'transformer',
        config.attentionMemoryMB ?? defaultAttentionMemoryMB(),
      );
    case 'none':
      return new GatedMlpStack(layers, d, store, rng, 'mlp', config.expand);
  }
}
