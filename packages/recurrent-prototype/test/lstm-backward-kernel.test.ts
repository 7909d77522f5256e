// The committed WebAssembly (kernels.wasm) is what its AssemblyScript source compiles to, and it computes the backward
// recurrence it documents (checked here against a direct float64 evaluation; lstm.test.ts checks the layer's
// gradients against the op-by-op formulation).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '@rpg/core';
import { describe, expect, it } from 'vitest';
import packageJson from '../package.json' with { type: 'json' };
import { lstmGateGradients } from '../src/lstm-backward-kernel.js';

const here = new URL('..', import.meta.url).pathname;

/** The same recurrence in plain float64 JavaScript, step by step as the kernel documents it. */
function reference(
  s: Record<string, Float32Array>,
  dy: Float32Array,
  wH: Float32Array,
  L: number,
  B: number,
  d: number,
) {
  const G = 4 * d;
  const out = new Float64Array(L * B * G);
  const dh = new Float64Array(B * d);
  const dc = new Float64Array(B * d);
  for (let t = L - 1; t >= 0; t--) {
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < d; j++) {
        const at = (t * B + b) * d + j;
        const h = dy[(b * L + t) * d + j]! + dh[b * d + j]!;
        const [i, f, o, ci, co] = [s.i![at]!, s.f![at]!, s.o![at]!, s.ci![at]!, s.co![at]!];
        const c = dc[b * d + j]! + h * o * (1 - co * co);
        const g = (t * B + b) * G + j;
        out[g] = c * ci * i * (1 - i);
        out[g + d] = c * (t > 0 ? s.cs![at - B * d]! : 0) * f * (1 - f);
        out[g + 2 * d] = c * i * (1 - ci * ci);
        out[g + 3 * d] = h * co * o * (1 - o);
        dc[b * d + j] = c * f;
      }
    }
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < d; j++) {
        let sum = 0;
        for (let k = 0; k < G; k++) sum += out[(t * B + b) * G + k]! * wH[j * G + k]!;
        dh[b * d + j] = sum;
      }
    }
  }
  return out;
}

describe('the LSTM backward kernel', () => {
  it('is the compiled form of assembly/ (kernels.wasm)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rpg-asc-'));
    try {
      const asc = createRequire(import.meta.url).resolve('assemblyscript/bin/asc.js');
      // The package's own build:wasm command, writing elsewhere.
      const args = packageJson.scripts['build:wasm'].split(' ').slice(1);
      args[args.indexOf('-o') + 1] = join(dir, 'out.wasm');
      const run = spawnSync(process.execPath, [asc, ...args], { cwd: here, encoding: 'utf8' });
      expect(run.status, run.stderr).toBe(0);
      const built = readFileSync(join(dir, 'out.wasm'));
      expect(built.equals(readFileSync(join(here, 'src/kernels.wasm'))), 'rebuild with build:wasm').toBe(
        true,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // d 6: 4d = 24 is not a multiple of 16, so the product's one-vector tail runs too.
  for (const [L, B, d] of [
    [5, 2, 8],
    [3, 1, 6],
    [1, 3, 4],
  ] as const) {
    it(`matches the float64 recurrence (L ${L}, B ${B}, d ${d})`, () => {
      const rng = new Rng(L * 100 + d);
      const n = L * B * d;
      const unit = () => Float32Array.from({ length: n }, () => rng.uniform());
      const steps = {
        i: unit(),
        cs: Float32Array.from({ length: n }, () => 2 * rng.uniform() - 1),
        f: unit(),
        o: unit(),
        ci: unit(),
        co: unit(),
      };
      const dy = Float32Array.from({ length: n }, () => 2 * rng.uniform() - 1);
      const wH = Float32Array.from({ length: 4 * d * d }, () => rng.uniform() - 0.5);
      const got = lstmGateGradients(steps, dy, wH, L, B, d);
      const want = reference(steps, dy, wH, L, B, d);
      expect(got).toHaveLength(want.length);
      const scale = Math.max(...want.map(Math.abs));
      expect(scale).toBeGreaterThan(0.01);
      const worst = want.reduce((m, w, k) => Math.max(m, Math.abs(got[k]! - w)), 0);
      expect(worst / scale).toBeLessThan(1e-5);
    });
  }
});
