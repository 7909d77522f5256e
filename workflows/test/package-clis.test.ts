/**
 * Every package CLI runs from the repository root as `pnpm exec rpg-<package>`, the form the README documents:
 * the root lists the stage packages as workspace dependencies, so pnpm links their bins there.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PACKAGES = [
  'checkpoint-harvest',
  'tokenizer',
  'recurrent-prototype',
  'diffusion-decoder',
  'evaluator',
  'task-embedding',
];

function pnpmExec(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('pnpm', ['exec', ...args], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('package CLIs from the repository root', () => {
  it.each(PACKAGES)('pnpm exec rpg-%s --help exits 0 and prints its usage', async (name) => {
    const r = await pnpmExec([`rpg-${name}`, '--help']);
    expect(r.stderr).not.toMatch(/Command .* not found/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage:/m);
    expect(r.stdout).toContain(`rpg-${name}`);
  });
});
