import { type Rng, tf } from '@rpg/core';
import type { TaskEmbeddingConfig } from './embedding-config.js';

/**
 * Where a model keeps its trainable variables: the recurrent model passes its own parameter store, so the
 * embedding's weights are saved, loaded and optimised with the rest of the generator.
 */
export interface ParamRegistry {
  /** Registers a variable holding `data` (row-major) with `shape`; names are unique within the registry. */
  add(name: string, shape: number[], data: Float32Array): tf.Variable;
}

/** A registry of its own, for an embedding used on its own (a CLI, a test). */
class OwnedParams implements ParamRegistry {
  readonly vars: tf.Variable[] = [];
  add(_name: string, shape: number[], data: Float32Array): tf.Variable {
    const initial = tf.tensor(data, shape, 'float32');
    const v = tf.variable(initial, true);
    initial.dispose();
    this.vars.push(v);
    return v;
  }
}

/**
 * Task vector `[B, inputDim]` → embedding `[B, d]`: Linear → SiLU → Linear. Variables are named
 * `<prefix>0.weight`, `<prefix>0.bias`, `<prefix>2.weight`, `<prefix>2.bias` (PyTorch `nn.Sequential` names),
 * weights stored `[in, out]`, initialised like PyTorch's Linear: U(±1/√fan_in).
 */
export class TaskEmbedding {
  readonly inputDim: number;
  readonly d: number;
  private readonly w1: tf.Variable;
  private readonly b1: tf.Variable;
  private readonly w2: tf.Variable;
  private readonly b2: tf.Variable;
  private readonly owned?: OwnedParams;

  constructor(config: TaskEmbeddingConfig, d: number, rng: Rng, params?: ParamRegistry, prefix = 'task.') {
    if (!Number.isInteger(d) || d < 1)
      throw new Error(`the embedding width d must be a positive integer, got ${d}`);
    this.inputDim = config.inputDim;
    this.d = d;
    if (!params) this.owned = new OwnedParams();
    const registry = params ?? this.owned!;
    const linear = (name: string, fanIn: number, fanOut: number): [tf.Variable, tf.Variable] => {
      const bound = 1 / Math.sqrt(fanIn);
      const r = rng.fork(name);
      return [
        registry.add(
          `${prefix}${name}.weight`,
          [fanIn, fanOut],
          r.uniformArray(fanIn * fanOut, -bound, bound),
        ),
        registry.add(`${prefix}${name}.bias`, [fanOut], r.uniformArray(fanOut, -bound, bound)),
      ];
    };
    [this.w1, this.b1] = linear('0', config.inputDim, config.hidden);
    [this.w2, this.b2] = linear('2', config.hidden, d);
  }

  /** Embeddings `[B, d]` of task vectors `[B, inputDim]`. */
  forward(tasks: tf.Tensor2D): tf.Tensor2D {
    if (tasks.rank !== 2 || tasks.shape[1] !== this.inputDim) {
      throw new Error(`task vectors must be [B, ${this.inputDim}], got [${tasks.shape}]`);
    }
    return tf.tidy(() => {
      const h = tf.add(tf.matMul(tasks, this.w1), this.b1);
      const a = tf.mul(h, tf.sigmoid(h));
      return tf.add(tf.matMul(a, this.w2), this.b2) as tf.Tensor2D;
    });
  }

  /** Frees the variables when the embedding owns them (made without a registry); a no-op otherwise. */
  dispose(): void {
    if (this.owned) tf.dispose(this.owned.vars);
  }
}
