import { type TaskEmbeddingConfigInput, taskEmbeddingConfigSchema } from '@rpg/task-embedding';
import { z } from 'zod';

/** The recurrent model's configuration (the agreed contract, plus the optional SSD `chunkSize`). */
export interface PrototypeConfig {
  model: 'mamba2' | 'lstm' | 'transformer' | 'none';
  d: number;
  layers: number;
  position: '2d' | '1d' | 'learnable';
  /** Mamba2 state size N (default 32). */
  dState?: number;
  /** Mamba2 expansion, d_inner = expand·d; the per-token MLP's (`none`) hidden width expand·d (default 2). */
  expand?: number;
  /** Mamba2 causal conv width (default 4). */
  convWidth?: number;
  /** Mamba2 head size P (default 64, clamped to d_inner; must divide d_inner). */
  headDim?: number;
  /** Transformer attention heads (default 4; must divide d). */
  heads?: number;
  /** Mamba2 SSD chunk length (default 64). */
  chunkSize?: number;
  /**
   * The permutation-state embedding: one row per state added at every position (`shared`, the method's; absent
   * means this), or one row per state and position (`per-position`), so each state (training run) gets its own
   * learnable input at every token instead of sharing the position embedding with the other runs.
   */
  stateEmbedding?: 'shared' | 'per-position';
  /** Task conditioning (unseen tasks): a task-embedding network whose output is added to the input. */
  task?: TaskEmbeddingConfigInput;
  /**
   * Transformer only: the memory (MiB) its L×L attention scores may take in one training step; a sequence whose
   * estimate is larger fails before allocating. Absent: half of the
   * machine's memory (`defaultAttentionMemoryMB`).
   */
  attentionMemoryMB?: number;
}

const positiveInt = (what: string) =>
  z
    .number({ error: `${what} must be a number` })
    .int(`${what} must be an integer`)
    .positive(`${what} must be > 0`);

/**
 * Validates a {@link PrototypeConfig} and fills the defaults: model 'mamba2', layers 2, position '2d', dState 32,
 * expand 2, convWidth 4, headDim 64 (clamped to d_inner), heads 4, chunkSize 64; `task` (conditioning) only
 * when given.
 */
export const prototypeConfigSchema = z
  .object({
    model: z.enum(['mamba2', 'lstm', 'transformer', 'none']).default('mamba2'),
    d: positiveInt('d').max(4096).min(2, 'd must be at least 2'),
    layers: positiveInt('layers').max(64).default(2),
    position: z.enum(['2d', '1d', 'learnable']).default('2d'),
    dState: positiveInt('dState').max(1024).default(32),
    expand: positiveInt('expand').max(16).default(2),
    convWidth: positiveInt('convWidth').max(64).default(4),
    headDim: positiveInt('headDim').max(1024).default(64),
    heads: positiveInt('heads').max(64).default(4),
    chunkSize: positiveInt('chunkSize').max(4096).default(64),
    /** Absent: 'shared' (kept absent, like `task`, so existing configs keep their keys). */
    stateEmbedding: z.enum(['shared', 'per-position']).optional(),
    /** Absent: an unconditional model (no default, so configs without it keep their exact form and keys). */
    task: taskEmbeddingConfigSchema.optional(),
    /** Absent: the default cap (kept absent, like `task`, so existing configs keep their keys). */
    attentionMemoryMB: z
      .number({ error: 'attentionMemoryMB must be a number' })
      .positive('attentionMemoryMB must be > 0 (MiB)')
      .optional(),
  })
  .strict()
  .transform((c, ctx) => {
    const dInner = c.expand * c.d;
    const headDim = Math.min(c.headDim, dInner);
    if (c.model === 'mamba2' && dInner % headDim !== 0) {
      ctx.issues.push({
        code: 'custom',
        input: c.headDim,
        path: ['headDim'],
        message: `headDim ${headDim} must divide d_inner = expand·d = ${dInner}; pick a divisor such as ${largestDivisorAtMost(dInner, headDim)}`,
      });
    }
    if (c.model === 'transformer' && c.d % c.heads !== 0) {
      ctx.issues.push({
        code: 'custom',
        input: c.heads,
        path: ['heads'],
        message: `heads ${c.heads} must divide d = ${c.d}`,
      });
    }
    return { ...c, headDim };
  });

export type ResolvedPrototypeConfig = z.output<typeof prototypeConfigSchema>;

function largestDivisorAtMost(n: number, k: number): number {
  for (let v = Math.min(n, k); v > 1; v--) if (n % v === 0) return v;
  return 1;
}

/** Parses a config, throwing one readable error that names every bad field. */
export function resolvePrototypeConfig(
  config: Partial<PrototypeConfig> & { d: number },
): ResolvedPrototypeConfig {
  const r = prototypeConfigSchema.safeParse(config);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`);
    throw new Error(`invalid prototype config: ${lines.join('; ')}`);
  }
  return r.data;
}
