import { type Rng, type TensorEntry, tf } from '@rpg/core';
import { gateMask, TaskEmbedding } from '@rpg/task-embedding';
import { checkAttentionMemory, defaultAttentionMemoryMB } from './attention-memory.js';
import { type PrototypeConfig, type ResolvedPrototypeConfig, resolvePrototypeConfig } from './config.js';
import { ParamStore } from './param-store.js';
import { PositionEmbedding, StateEmbedding, type TokenPosition } from './position-embedding.js';
import { createSequenceModel, type SequenceModel, type SequenceStage } from './sequence-model.js';
import { backpropStages, disposePass, passStages, type StagePass } from './stage-recompute.js';

/** See {@link PrototypeModel.rowsPass}. Dispose when done (the gradients are the caller's). */
export interface RowsPass {
  /** `[rows.length, d]`. */
  rows: tf.Tensor2D;
  /** The gradient of Σ rows ⊙ dRows for each trainable variable (null: none); `dRows` is `[rows.length, d]`. */
  gradients(dRows: tf.Tensor2D): (tf.Tensor | null)[];
  dispose(): void;
}

/**
 * The recurrent prototype generator: input per token position = position embedding + learnable constant +
 * permutation-state embedding (+ an optional condition vector) (+ the task embedding of a task-conditioned
 * model, at every position or at the head's positions only), run through the sequence model (Mamba2 by default)
 * → one prototype `[d]` per token.
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
  private readonly task?: { net: TaskEmbedding; gate: tf.Tensor3D | null };
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
    // Checked before any variable exists: a sequence too long for attention even one at a time fails here.
    if (this.config.model === 'transformer') {
      const { layers, heads, attentionMemoryMB } = this.config;
      checkAttentionMemory(
        { layers, heads, batch: 1, len: positions.length },
        attentionMemoryMB ?? defaultAttentionMemoryMB(),
      );
    }
    // Checked before any variable exists, so a bad gating config leaks nothing.
    const taskGate = this.config.task
      ? gateMask(
          this.config.task,
          positions.map((p) => p.layerIndex),
        )
      : undefined;
    this.numTokens = positions.length;
    this.d = this.config.d;
    this.numStates = numStates;
    this.position = new PositionEmbedding(this.config.position, positions, this.d, this.store, rng);
    const perPosition = this.config.stateEmbedding === 'per-position';
    this.state = new StateEmbedding(
      numStates,
      this.d,
      this.store,
      'embedding',
      perPosition ? { tokens: positions.length, rng: rng.fork('state') } : undefined,
    );
    this.sequence = createSequenceModel(this.config, this.store, rng);
    // Built last, from its own stream: an unconditional model's variables and their values stay as they were.
    if (this.config.task && taskGate) {
      const mask = taskGate;
      this.task = {
        net: new TaskEmbedding(this.config.task, this.d, rng.fork('task'), this.store),
        gate: this.config.task.gate === 'all' ? null : tf.keep(tf.tensor3d(mask, [1, mask.length, 1])),
      };
    }
  }

  /** Whether training recomputes this model's backward pass to save memory (see {@link SequenceModel}). */
  get recomputeSaves(): boolean {
    return this.sequence.recomputeSaves === true;
  }

  /** Width of the task vectors this model is conditioned on; null for an unconditional model. */
  get taskInputDim(): number | null {
    return this.task?.net.inputDim ?? null;
  }

  trainableVariables(): tf.Variable[] {
    return this.store.variables();
  }

  /** Number of scalar trainable parameters. */
  parameterCount(): number {
    return this.store.count();
  }

  /**
   * The sequence model's input `[B, L, d]` for these states (and condition, and task vectors `[B, inputDim]`,
   * which a task-conditioned model requires and an unconditional one refuses).
   */
  inputs(states: readonly number[], condition?: tf.Tensor2D, tasks?: tf.Tensor2D): tf.Tensor3D {
    this.checkAlive();
    if (this.task && !tasks) {
      throw new Error('this prototype model is task-conditioned: pass one task vector per state');
    }
    if (!this.task && tasks) throw new Error('this prototype model has no task embedding (config.task)');
    if (tasks && tasks.shape[0] !== states.length) {
      throw new Error(`tasks has ${tasks.shape[0]} rows for ${states.length} states`);
    }
    return tf.tidy(() => {
      const state = this.state.forward(states); // [B, d], or [B, L, d] per position
      let perSequence: tf.Tensor2D | undefined = state.rank === 2 ? (state as tf.Tensor2D) : undefined;
      if (condition) {
        const [b, d] = condition.shape;
        if (condition.rank !== 2 || b !== states.length || d !== this.d) {
          throw new Error(
            `condition must be [${states.length}, ${this.d}] (one row per state), got [${condition.shape}]`,
          );
        }
        perSequence = perSequence ? (tf.add(perSequence, condition) as tf.Tensor2D) : condition;
      }
      let x = this.position.forward().expandDims(0) as tf.Tensor3D;
      if (state.rank === 3) x = tf.add(x, state);
      if (perSequence) x = tf.add(x, perSequence.expandDims(1));
      if (!this.task || !tasks) return x;
      const embedding = this.task.net.forward(tasks).expandDims(1); // [B, 1, d]
      return tf.add(x, this.task.gate ? tf.mul(embedding, this.task.gate) : embedding) as tf.Tensor3D;
    });
  }

  /**
   * Prototypes `[B, L, d]` for permutation-state indices `states` (length B); `condition` `[B, d]` is added to
   * every position's input when given; `tasks` `[B, inputDim]` are the task vectors of a task-conditioned model.
   */
  forward(states: number[], condition?: tf.Tensor2D, tasks?: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => this.sequence.forward(this.inputs(states, condition, tasks)));
  }

  /**
   * Rows `rows` of the prototypes of {@link forward} flattened to `[B·L, d]` → `[N, d]`. A training step needs only
   * its diffusion batch's rows; a position-wise model (`none`) computes just those, the others the whole sequence.
   */
  rows(states: number[], rows: tf.Tensor1D, tasks?: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const flat = (x: tf.Tensor3D) => tf.reshape(x, [states.length * this.numTokens, this.d]) as tf.Tensor2D;
      if (!this.sequence.positionwise) return tf.gather(flat(this.forward(states, undefined, tasks)), rows);
      const picked = tf
        .gather(flat(this.inputs(states, undefined, tasks)), rows)
        .expandDims(0) as tf.Tensor3D;
      return tf.reshape(this.sequence.forward(picked), [rows.shape[0], this.d]) as tf.Tensor2D;
    });
  }

  /**
   * The rows of {@link rows} (`rows` index the flattened `[B·L]` rows the same way), computed one sequence at a
   * time without a tape, and a block of the sequence at a time where the sequence model can (Mamba2), keeping
   * only each layer's input per sequence; then, from the rows' gradient, the variables' gradients, recomputing
   * one layer (and block) at a time. Peak memory is one block's activations instead of the whole batch's, for one
   * more forward pass; values and gradients equal {@link rows}' to float summation order.
   */
  rowsPass(states: number[], rows: Int32Array, tasks?: tf.Tensor2D): RowsPass {
    this.checkAlive();
    const stages = this.stages();
    const visits: { input: () => tf.Tensor3D; picked: number[]; positions: number[]; pass: StagePass }[] = [];
    const taskRows: tf.Tensor[] = [];
    let values = tf.zeros([rows.length, this.d]) as tf.Tensor2D;
    const release = () => {
      for (const v of visits) disposePass(v.pass);
      tf.dispose([values, ...taskRows]);
    };
    try {
      for (const { b, state, picked, positions } of this.sequencesOf(states, rows)) {
        const task = tasks ? (tf.slice(tasks, [b, 0], [1, -1]) as tf.Tensor2D) : undefined;
        if (task) taskRows.push(task);
        const input = () => this.inputs([state], undefined, task);
        const pass = passStages(stages, tf.tidy(input));
        visits.push({ input, picked, positions, pass });
        const next = tf.tidy(() => {
          const output = pass.inputs[pass.inputs.length - 1]!.reshape([this.numTokens, this.d]);
          const mine = tf.gather(output, tf.tensor1d(positions, 'int32'));
          // Each row belongs to one sequence: adding the scattered rows to zeros is exact.
          const at = tf.tensor2d(picked, [picked.length, 1], 'int32');
          return tf.add(values, tf.scatterND(at, mine, [rows.length, this.d])) as tf.Tensor2D;
        });
        values.dispose();
        values = next;
      }
    } catch (err) {
      release();
      throw err;
    }
    const vars = this.trainableVariables();
    const L = this.numTokens;
    return {
      rows: values,
      gradients: (dRows) => {
        const total: (tf.Tensor | null)[] = vars.map(() => null);
        const accumulate = (grads: (tf.Tensor | undefined)[]) =>
          grads.forEach((g, i) => {
            if (!g) return;
            const prev = total[i];
            total[i] = tf.keep(prev ? tf.add(prev, g) : g);
            prev?.dispose();
          });
        for (const { input, picked, positions, pass } of visits) {
          tf.tidy(() => {
            const at = tf.tensor2d(positions, [positions.length, 1], 'int32');
            const picks = tf.gather(dRows, tf.tensor1d(picked, 'int32'));
            // scatterND adds repeated rows, as the gather's gradient does.
            const dy = tf.reshape(tf.scatterND(at, picks, [L, this.d]), [1, L, this.d]) as tf.Tensor3D;
            const dx = backpropStages(stages, pass, dy, vars, accumulate);
            accumulate(tf.engine().gradients(input, vars, dx, true).grads);
          });
        }
        return total;
      },
      dispose: release,
    };
  }

  private stages(): SequenceStage[] {
    return this.sequence.stages?.() ?? [{ forward: (x) => this.sequence.forward(x) }];
  }

  /** Each sequence that has rows among `rows`: the indices into `rows` of its rows and their positions in it. */
  private sequencesOf(
    states: number[],
    rows: Int32Array,
  ): { b: number; state: number; picked: number[]; positions: number[] }[] {
    const L = this.numTokens;
    return states
      .map((state, b) => {
        const picked: number[] = [];
        const positions: number[] = [];
        rows.forEach((r, p) => {
          if (Math.floor(r / L) !== b) return;
          picked.push(p);
          positions.push(r - b * L);
        });
        return { b, state, picked, positions };
      })
      .filter((s) => s.picked.length > 0); // no row of this sequence: nothing to compute
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
    this.task?.gate?.dispose();
    this.store.dispose();
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error('this PrototypeModel has been disposed');
  }
}
