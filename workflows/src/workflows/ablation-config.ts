/**
 * The ablation generator's training config: the same as the task-conditioned one without the task embedding.
 * No imports, so the workflow code and the in-process runner share it.
 */
export function withoutTaskEmbedding<T extends { prototype: { task?: unknown } }>(train: T): T {
  const { task: _task, ...prototype } = train.prototype;
  return { ...train, prototype };
}
