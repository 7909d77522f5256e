import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const repoRoot = join(import.meta.dirname, '..', '..', '..');

/**
 * This machine's practical compute limit, for benchmarks to compare against: numpy's fp32 1024² matmul in
 * GFLOP/s (median of 20), run in the project's Python environment (else `python3`); null when numpy is missing.
 * One call is one measurement: benchmarks take several, interleaved with what they measure.
 */
export function numpyMatmulGflops(): number | null {
  const venvPython = join(repoRoot, 'infra', '.cache', 'venv', 'bin', 'python');
  const python = existsSync(venvPython) ? venvPython : 'python3';
  const code = `
import time, numpy as np
n = 1024
a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
a @ b
ts = []
for _ in range(20):
    t = time.perf_counter(); a @ b; ts.append(time.perf_counter() - t)
ts.sort()
print(2 * n**3 / ts[len(ts)//2] / 1e9)`;
  try {
    return Number(execFileSync(python, ['-c', code], { encoding: 'utf8' }).trim());
  } catch {
    return null;
  }
}
