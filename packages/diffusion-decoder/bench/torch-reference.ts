// What the benchmarks that compare with PyTorch share: the project's Python environment (where bench:step
// installs torch) and which PyTorch model stands in for each of ours.
import { join } from 'node:path';

export const MODELS = ['lstm', 'transformer', 'mamba2', 'none'] as const;
export type Model = (typeof MODELS)[number];

/** The PyTorch model each of ours is compared with: PyTorch has no Mamba2 CPU kernel, so its Transformer. */
export const TORCH_MODEL: Record<Model, string> = {
  lstm: 'lstm',
  transformer: 'transformer',
  mamba2: 'transformer',
  none: 'none',
};

export const repoRoot = join(import.meta.dirname, '..', '..', '..');
/** The project's Python (infra/setup.sh creates it). */
export const projectPython = join(repoRoot, 'infra', '.cache', 'venv', 'bin', 'python');
