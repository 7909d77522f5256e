import { packageCli } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import { splitTasks } from '../src/index.js';

const cli = packageCli(import.meta.dirname);

describe('rpg-task-embedding CLI', () => {
  it('prints its help', async () => {
    const r = await cli('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/split --classes <n> --unseen <u>/);
  });

  it('prints the same split as the library', async () => {
    const r = await cli(
      'split',
      '--classes',
      '10',
      '--unseen',
      '20',
      '--seen',
      '50',
      '--seed',
      '3',
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(splitTasks({ numClasses: 10, unseen: 20, seen: 50, seed: 3 }));
    const text = await cli('split', '--classes', '10', '--unseen', '20', '--seed', '3');
    expect(text.stdout).toMatch(/^1002 seen, 20 unseen tasks \(seed 3\)/);
  });

  it('prints a descriptor’s id and vector', async () => {
    const r = await cli('vector', '{"kind":"class-subset","numClasses":10,"positive":[1,3]}');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('subset-0101000000\n[0,1,0,1,0,0,0,0,0,0]\n');
  });

  it('names what is wrong, without a stack trace', async () => {
    const bad = await cli('vector', '{"kind":"class-subset","numClasses":10,"positive":[12]}');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/positive\.0: class 12 is outside \[0, 10\)/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
    const missing = await cli('split', '--classes', '10');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/--unseen is required/);
  });
});
