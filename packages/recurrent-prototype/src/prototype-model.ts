import { type Rng, type TensorEntry, tf } from '@rpg/core';
import { type PrototypeConfig, type ResolvedPrototypeConfig, resolvePrototypeConfig } from './config.js';
import { ParamStore } from './params.js';
import { PositionEmbedding, StateEmbedding, type TokenPosition } from './position-embedding.js';
import { createSequenceModel, type SequenceModel } from './sequence-model.js';

/**
 * The recurrent prototype generator: input per token position = position embedding + learnable constant +
 * permutation-state embedding (+ an optional condition vector), run through the sequence model
 * (Mamba2 by default) → one prototype `[d]` per token.
 */
export class PrototypeModel {
  readonly numTokens: number;
  readonly d: number;
  readonly numStates: number;
  readonly config: ResolvedPrototypeConfig;
  private readonly store = new ParamStore();
  private readonly position: PositionEmbedding;
  private readonly state: StateEmbedding;
  private readonly sequence: SequenceModel;
  private disposed = false;

  constructor(config: PrototypeConfig, positions: readonly TokenPosition[], numStates: number, rng: Rng) {
    this.config = resolvePrototypeConfig(config);
    if (positions.length === 0)
      throw new Error('positions is empty: the model needs one entry per token row');
    positions.forEach((p, i) => {
      if (![p.layerIndex, p.indexInLayer].every((v) => Number.isInteger(v) && v >= 0)) {
        throw new Error(`positions[${i}] must have non-negative integer layerIndex and indexInLayer`);
      }
    });
    this.numTokens = positions.length;
    this.d = this.config.d;
    this.numStates = numStates;
    this.position = new PositionEmbedding(this.config.position, positions, this.d, this.store, rng);
    this.state = new StateEmbedding(numStates, this.d, this.store);
    this.sequence = createSequenceModel(this.config, this.store, rng);
  }

  trainableVariables(): tf.Variable[] {
    return this.store.variables();
  }

  /** Number of scalar trainable parameters. */
  parameterCount(): number {
    return this.store.count();
  }

  /** The sequence model's input `[B, L, d]` for these states (and condition). */
  inputs(states: readonly number[], condition?: tf.Tensor2D): tf.Tensor3D {
    this.checkAlive();
    return tf.tidy(() => {
      let perSequence = this.state.forward(states); // [B, d]
      if (condition) {
        const [b, d] = condition.shape;
        if (condition.rank !== 2 || b !== states.length || d !== this.d) {
          throw new Error(
            `condition must be [${states.length}, ${this.d}] (one row per state), got [${condition.shape}]`,
          );
        }
        perSequence = tf.add(perSequence, condition);
      }
      return tf.add(this.position.forward().expandDims(0), perSequence.expandDims(1)) as tf.Tensor3D;
    });
  }

  /**
   * Prototypes `[B, L, d]` for permutation-state indices `states` (length B); `condition` `[B, d]` is added to
   * every position's input when given.
   */
  forward(states: number[], condition?: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => this.sequence.forward(this.inputs(states, condition)));
  }

  /** A copy of all trainable values (F32), by name. */
  weights(): Map<string, TensorEntry> {
    this.checkAlive();
    return this.store.weights();
  }

  /** Restores values from {@link weights}; names and shapes must match this model exactly. */
  loadWeights(w: Map<string, TensorEntry>): void {
    this.checkAlive();
    this.store.loadWeights(w);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.position.dispose();
    this.store.dispose();
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error('this PrototypeModel has been disposed');
  }
}
