import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Rng, writeSafetensorsFile } from '@rpg/core';

export const ZOO_INPUTS = 8;
export const ZOO_CLASSES = 3;

/** The teacher of `fixtures/score-mlp.mjs` (its LCG's first draws), so the zoo's models score well. */
function teacher(): number[] {
  let state = 12345;
  return Array.from({ length: ZOO_CLASSES * ZOO_INPUTS }, () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32 - 0.5;
  });
}

/**
 * A zoo as a PyTorch user saves it (`nn.Sequential(Linear(8, 16), ReLU(), Linear(16, 3))`, F32 safetensors):
 * per run (`seed<r>-epoch<e>.safetensors`), the teacher written as ReLU(x), ReLU(−x) features plus seeded noise.
 */
export async function writeSyntheticZoo(dir: string, runs: number, perRun: number): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const t = teacher();
  const files: string[] = [];
  for (let r = 0; r < runs; r++) {
    const rng = new Rng(r);
    for (let e = 1; e <= perRun; e++) {
      const noise = (n: number, scale: number) =>
        Float32Array.from({ length: n }, () => scale * rng.normal());
      const w1 = noise(2 * ZOO_INPUTS * ZOO_INPUTS, 0.05);
      for (let i = 0; i < ZOO_INPUTS; i++) {
        w1[i * ZOO_INPUTS + i]! += 1;
        w1[(ZOO_INPUTS + i) * ZOO_INPUTS + i]! -= 1;
      }
      const w2 = noise(ZOO_CLASSES * 2 * ZOO_INPUTS, 0.05);
      for (let c = 0; c < ZOO_CLASSES; c++) {
        for (let i = 0; i < ZOO_INPUTS; i++) {
          w2[c * 2 * ZOO_INPUTS + i]! += t[c * ZOO_INPUTS + i]!;
          w2[c * 2 * ZOO_INPUTS + ZOO_INPUTS + i]! -= t[c * ZOO_INPUTS + i]!;
        }
      }
      const file = join(dir, `seed${r}-epoch${e}.safetensors`);
      await writeSafetensorsFile(
        file,
        new Map([
          ['0.weight', { dtype: 'F32', shape: [2 * ZOO_INPUTS, ZOO_INPUTS], data: w1 }],
          ['0.bias', { dtype: 'F32', shape: [2 * ZOO_INPUTS], data: noise(2 * ZOO_INPUTS, 0.02) }],
          ['2.weight', { dtype: 'F32', shape: [ZOO_CLASSES, 2 * ZOO_INPUTS], data: w2 }],
          ['2.bias', { dtype: 'F32', shape: [ZOO_CLASSES], data: noise(ZOO_CLASSES, 0.02) }],
        ]),
      );
      files.push(file);
    }
  }
  return files;
}
