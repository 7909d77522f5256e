import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { loadBackend } from '../src/backend.js';
import { tf } from '../src/tf.js';

const tsx = ['--import', 'tsx', '-e'];
const runWith = (env: Record<string, string>, code: string) => {
  const r = spawnSync(process.execPath, [...tsx, code], {
    cwd: `${import.meta.dirname}/..`,
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr };
};

describe('loadBackend', () => {
  it('loads the native tfjs-node backend here and computes with it', async () => {
    const backend = await loadBackend({ log: null });
    expect(backend).toMatchObject({ choice: 'node', name: 'tensorflow', native: true });
    expect(tf.getBackend()).toBe('tensorflow');
    const y = tf.matMul(tf.ones([2, 3]), tf.ones([3, 4]));
    expect(Array.from(await y.data())).toEqual(new Array(8).fill(3));
  });

  it('honours RPG_BACKEND and warns loudly for a slow backend', () => {
    const code =
      "import('./src/backend.ts').then(async (m) => { const b = await m.loadBackend(); console.log(JSON.stringify(b)); })";
    const { stdout, stderr } = runWith({ RPG_BACKEND: 'cpu' }, code);
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toMatchObject({ choice: 'cpu', native: false });
    expect(stderr).toMatch(/tfjs backend: cpu/);
    expect(stderr).toMatch(/WARNING: 'cpu' is not a native backend/);
  });

  it('names the valid choices when RPG_BACKEND is wrong', () => {
    const code =
      "import('./src/backend.ts').then((m) => m.loadBackend()).catch((e) => console.log(e.message))";
    expect(runWith({ RPG_BACKEND: 'gpu' }, code).stdout).toMatch(
      /RPG_BACKEND=gpu is not a backend; use one of node-gpu, node, wasm, cpu/,
    );
  });
});
