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
  /**
   * True when recomputing its backward pass stage by stage (see `PrototypeModel.rowsPass`) saves memory worth an
   * extra forward pass: its forward keeps large activations for the gradient (Mamba2, the Transformer). The LSTM's
   * op keeps only compact per-step states (recomputing it measured 3.7× the time), and a position-wise model
   * computes only its batch's rows anyway.
   */
  readonly recomputeSaves?: boolean;
  /**
   * The model as a chain of stages (its layers) whose composition is `forward`, so a backward pass can recompute
   * one at a time; absent: one stage, `forward` itself.
   */
  stages?(): SequenceStage[];
}

/** One layer of a sequence model. */
export interface SequenceStage {
  forward(x: tf.Tensor3D): tf.Tensor3D;
  /**
   * The layer over one block of a longer sequence, continuing from the previous block's carry (absent: the
   * sequence's start) and returning its own; present when the layer can run in blocks (see
   * `Mamba2Block.forwardBlock`).
   */
  block?(x: tf.Tensor3D, carry?: tf.Tensor[]): { y: tf.Tensor3D; carry: tf.Tensor[] };
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
