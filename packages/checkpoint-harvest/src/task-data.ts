import { subsetLabelMap, type TaskDescriptor, taskId } from '@rpg/task-embedding';
import type { Dataset, Split } from './data.js';

/**
 * The binary data set of a class-subset task: the same examples (same split, same order), each label replaced by
 * 1 when its class is one of the task's positive classes and 0 otherwise. The name records the task, so artifact
 * keys and reports tell the tasks apart.
 */
export function taskDataset(dataset: Dataset, task: TaskDescriptor): Dataset {
  if (task.kind !== 'class-subset') {
    throw new Error(
      `a "${task.kind}" task does not say how to label "${dataset.name}": only class-subset tasks relabel a data set`,
    );
  }
  if (task.numClasses !== dataset.numClasses) {
    throw new Error(
      `task ${taskId(task)} is over ${task.numClasses} classes but data set "${dataset.name}" has ${dataset.numClasses}`,
    );
  }
  const labels = subsetLabelMap(task);
  const relabel = (s: Split): Split => ({ x: s.x, y: s.y.map((c) => labels[c]!), n: s.n });
  return {
    name: `${dataset.name}-${taskId(task)}`,
    inputShape: [...dataset.inputShape],
    numClasses: 2,
    train: relabel(dataset.train),
    test: relabel(dataset.test),
  };
}

/** Share (percent) of the most frequent label of a split: the accuracy of always answering that label. */
export function majorityAccuracy(split: Pick<Split, 'y' | 'n'>): number {
  const counts = new Map<number, number>();
  for (const y of split.y) counts.set(y, (counts.get(y) ?? 0) + 1);
  return (100 * Math.max(0, ...counts.values())) / split.n;
}
