import { join } from 'node:path';
import { countParameters, parameterLayout } from '@rpg/checkpoint-harvest';
import { useBackend, useTempDir } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../src/pipeline-config.js';
import { runPipelineLocal } from '../src/run-local.js';
import { tinyResnetConfig } from './tiny-resnet-config.js';

useBackend();
const root = useTempDir('rpg-resnet-pipeline-');

describe('the whole pipeline on a tiny residual network', () => {
  it('generates ResNets (BatchNorm, projection shortcut) far above chance', async () => {
    const config = parsePipelineConfig(tinyResnetConfig());
    expect(countParameters(config.harvest.network)).toBe(5_122);
    expect(parameterLayout(config.harvest.network).map((e) => e.name)).toContain(
      'layer2.0.downsample.1.running_var',
    );
    const { report: r } = await runPipelineLocal(config, { storeDir: join(root(), 'store') });
    expect(r.originals.count).toBe(8);
    expect(r.originals.avg).toBeGreaterThan(85);
    expect(r.generated.count).toBe(4);
    // Chance is 10 %.
    expect(r.generated.avg).toBeGreaterThan(50);
    expect(r.generated.best).toBeGreaterThan(70);
  });
});
