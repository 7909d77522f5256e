import { describe, expect, it } from 'vitest';
import { taskId, taskMask } from '../src/descriptor.js';
import { allClassSubsetTasks, splitTasks } from '../src/split.js';

describe('class-subset task enumeration', () => {
  it('has 2^n − 2 tasks: every subset but the empty and the full one', () => {
    const tasks = allClassSubsetTasks(10);
    expect(tasks).toHaveLength(1022);
    const masks = tasks.map(taskMask);
    expect(masks[0]).toBe(1);
    expect(masks.at(-1)).toBe(1022);
    expect(new Set(masks).size).toBe(1022);
    expect(masks).not.toContain(0);
    expect(masks).not.toContain(1023);
    expect(allClassSubsetTasks(3).map((t) => t.positive)).toEqual([[0], [1], [0, 1], [2], [0, 2], [1, 2]]);
  });

  it('refuses class counts it cannot enumerate', () => {
    expect(() => allClassSubsetTasks(1)).toThrow(/numClasses must be an integer in \[2, 30\]/);
    expect(() => allClassSubsetTasks(20)).toThrow(/enumerate at most 16 classes/);
  });
});

describe('seen/unseen split', () => {
  const ids = (s: ReturnType<typeof splitTasks>) => ({
    seen: s.seen.map(taskId),
    unseen: s.unseen.map(taskId),
  });

  it('is the same for the same seed and different for another', () => {
    const a = ids(splitTasks({ numClasses: 10, unseen: 20, seen: 100, seed: 3 }));
    const b = ids(splitTasks({ numClasses: 10, unseen: 20, seen: 100, seed: 3 }));
    const c = ids(splitTasks({ numClasses: 10, unseen: 20, seen: 100, seed: 4 }));
    expect(a).toEqual(b);
    expect(c.unseen).not.toEqual(a.unseen);
  });

  it('keeps seen and unseen disjoint, with the requested sizes', () => {
    const s = ids(splitTasks({ numClasses: 10, unseen: 20, seen: 300, seed: 0 }));
    expect(s.unseen).toHaveLength(20);
    expect(s.seen).toHaveLength(300);
    const unseen = new Set(s.unseen);
    expect(s.seen.filter((id) => unseen.has(id))).toEqual([]);
    expect(new Set(s.seen).size).toBe(300);
  });

  it('uses every remaining task as seen by default, and a larger seen count extends a smaller one', () => {
    const all = splitTasks({ numClasses: 10, unseen: 22, seed: 1 });
    expect(all.seen.length + all.unseen.length).toBe(1022);
    const small = splitTasks({ numClasses: 10, unseen: 22, seen: 50, seed: 1 });
    expect(small.unseen.map(taskId)).toEqual(all.unseen.map(taskId));
    expect(small.seen.map(taskId)).toEqual(all.seen.slice(0, 50).map(taskId));
  });

  it('names the field that makes a split impossible', () => {
    expect(() => splitTasks({ numClasses: 3, unseen: 6, seed: 0 })).toThrow(
      /unseen: unseen 6 leaves no seen task/,
    );
    expect(() => splitTasks({ numClasses: 3, unseen: 2, seen: 5, seed: 0 })).toThrow(
      /seen: seen 5 \+ unseen 2 is more than the 6 tasks/,
    );
    expect(() => splitTasks({ numClasses: 10, unseen: 0, seed: 0 })).toThrow(/unseen/);
    expect(() => splitTasks({ numClasses: 10, unseen: 5, seed: -1 })).toThrow(/seed/);
  });
});
