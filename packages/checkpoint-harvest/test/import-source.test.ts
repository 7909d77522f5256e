import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ArtifactStore, PYTORCH_CONVERSION } from '@rpg/core';
import { useTempDir } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import { ImportError, importSourceStage, runsOf, sourceFiles } from '../src/index.js';

const root = useTempDir('rpg-source-');

describe('grouping source files into runs', () => {
  const files = ['z/seed10-e1.safetensors', 'z/seed2-e1.safetensors', 'z/seed2-e2.safetensors'];

  it('by the pattern’s first group, run names in natural order', () => {
    expect(runsOf(files, { pattern: 'seed(\\d+)' })).toEqual([1, 0, 0]);
    expect(runsOf(files, undefined)).toEqual([0, 0, 0]);
  });

  it('by a manifest, which must list exactly the files', () => {
    const manifest = {
      'seed10-e1.safetensors': 'b',
      'seed2-e1.safetensors': 'a',
      'seed2-e2.safetensors': 'a',
    };
    expect(runsOf(files, { manifest })).toEqual([1, 0, 0]);
    expect(() => runsOf(files, { manifest: { ...manifest, 'x.safetensors': 1 } })).toThrow(
      /lists x.safetensors, which is not among the files/,
    );
    expect(() => runsOf(files, { pattern: 'run(\\d+)' })).toThrow(/seed2-e1.safetensors does not match/);
  });
});

describe('PyTorch pickles in a source', () => {
  it('are refused with the one-line recipe when the Python environment has no torch', async () => {
    const dir = join(root(), 'pt');
    await mkdir(dir);
    // The start of a torch.save zip archive.
    await writeFile(join(dir, 'model-1.pt'), Buffer.from('PK\x03\x04pytorch zip archive'));
    expect(await sourceFiles({ checkpoints: dir })).toEqual([join(dir, 'model-1.pt')]);
    const previous = process.env.RPG_PYTHON;
    process.env.RPG_PYTHON = join(root(), 'no-python');
    try {
      const store = new ArtifactStore(join(root(), 'store'));
      const err = await importSourceStage({ store }, { source: { checkpoints: dir } }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ImportError);
      expect((err as Error).message).toContain('model-1.pt');
      expect((err as Error).message).toContain(PYTORCH_CONVERSION);
      expect((err as Error).message).not.toMatch(/header length/);
    } finally {
      if (previous === undefined) delete process.env.RPG_PYTHON;
      else process.env.RPG_PYTHON = previous;
    }
  });

  it('a directory without checkpoints is named', async () => {
    await mkdir(join(root(), 'empty'));
    await expect(sourceFiles({ checkpoints: join(root(), 'empty') })).rejects.toThrow(
      /holds no \*.safetensors/,
    );
  });
});
