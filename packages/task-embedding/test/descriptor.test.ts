import { describe, expect, it } from 'vitest';
import {
  parseTaskDescriptor,
  subsetBits,
  subsetLabelMap,
  TaskError,
  taskFromMask,
  taskId,
  taskInputDim,
  taskMask,
  taskVector,
} from '../src/descriptor.js';

describe('class-subset task descriptors', () => {
  it('turns the positive classes into bits, class 0 first', () => {
    const task = parseTaskDescriptor({ kind: 'class-subset', numClasses: 10, positive: [1, 3, 9] });
    expect(Array.from(taskVector(task))).toEqual([0, 1, 0, 1, 0, 0, 0, 0, 0, 1]);
    expect(taskInputDim(task)).toBe(10);
    expect(taskId(task)).toBe('subset-0101000001');
    expect(Array.from(subsetLabelMap(task as Extract<typeof task, { kind: 'class-subset' }>))).toEqual([
      0, 1, 0, 1, 0, 0, 0, 0, 0, 1,
    ]);
  });

  it('round-trips through bit masks', () => {
    for (const mask of [1, 2, 513, 1022]) {
      const task = taskFromMask(10, mask);
      expect(taskMask(task)).toBe(mask);
      expect(subsetBits(task)).toHaveLength(10);
    }
    expect(taskFromMask(10, 0b1000000101).positive).toEqual([0, 2, 9]);
  });

  it('names the field of a class outside the data set', () => {
    expect(() => parseTaskDescriptor({ kind: 'class-subset', numClasses: 10, positive: [2, 10] })).toThrow(
      /positive\.1: class 10 is outside \[0, 10\)/,
    );
  });

  it('refuses unsorted or repeated classes', () => {
    expect(() => parseTaskDescriptor({ kind: 'class-subset', numClasses: 10, positive: [3, 3] })).toThrow(
      /positive\.1: classes must be ascending and distinct/,
    );
    expect(() => parseTaskDescriptor({ kind: 'class-subset', numClasses: 10, positive: [4, 1] })).toThrow(
      /positive\.1/,
    );
  });

  it('refuses the empty subset and the full set, which have a single label', () => {
    expect(() => parseTaskDescriptor({ kind: 'class-subset', numClasses: 3, positive: [] })).toThrow(
      /positive: no positive class/,
    );
    expect(() => parseTaskDescriptor({ kind: 'class-subset', numClasses: 3, positive: [0, 1, 2] })).toThrow(
      /positive: every class is positive/,
    );
  });

  it('names numClasses when it is not a usable count', () => {
    expect(() => parseTaskDescriptor({ kind: 'class-subset', numClasses: 1, positive: [0] })).toThrow(
      /numClasses: numClasses must be at least 2/,
    );
    expect(() => parseTaskDescriptor({ kind: 'class-subset', numClasses: 2.5, positive: [0] })).toThrow(
      /numClasses: numClasses must be an integer/,
    );
  });

  it('rejects unknown kinds and unknown fields with a TaskError naming them', () => {
    expect(() => parseTaskDescriptor({ kind: 'regression' })).toThrow(
      /kind must be "class-subset" or "vector"/,
    );
    const err = (() => {
      try {
        parseTaskDescriptor({ kind: 'class-subset', numClasses: 10, positive: [1], bits: '01' }, 'tasks[3]');
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(TaskError);
    expect(err?.message).toMatch(/^tasks\[3\] is not a valid task descriptor/);
    expect(err?.message).toMatch(/bits/);
  });
});

describe('vector task descriptors', () => {
  it('keep their values as the vector and their name as the id', () => {
    const task = parseTaskDescriptor({ kind: 'vector', name: 'fashion-stats', values: [0.5, -1, 2] });
    expect(Array.from(taskVector(task))).toEqual([0.5, -1, 2]);
    expect(taskInputDim(task)).toBe(3);
    expect(taskId(task)).toBe('vector-fashion-stats');
  });

  it('refuse empty or non-finite vectors and unsafe names', () => {
    expect(() => parseTaskDescriptor({ kind: 'vector', name: 'a', values: [] })).toThrow(
      /values: values must not be empty/,
    );
    expect(() => parseTaskDescriptor({ kind: 'vector', name: 'a', values: [1, Number.NaN] })).toThrow(
      /values\.1/,
    );
    expect(() => parseTaskDescriptor({ kind: 'vector', name: '../x', values: [1] })).toThrow(/name:/);
  });
});
