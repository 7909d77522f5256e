import { TRAIN_DEFAULTS, trainStageConfigSchema } from '@rpg/diffusion-decoder';
import { describe, expect, it } from 'vitest';
import { pipelineConfigSchema } from '../src/pipeline-config.js';
import { unseenConfigSchema } from '../src/unseen-config.js';

describe("the pipelines' train section", () => {
  it('is the train stage schema itself, the one rpg-diffusion-decoder train resolves its flags with', () => {
    expect(pipelineConfigSchema.shape.train).toBe(trainStageConfigSchema);
    expect(unseenConfigSchema.shape.train).toBe(trainStageConfigSchema);
    expect(trainStageConfigSchema.parse({ prototype: { d: 8 } }).checkpointEvery).toBe(
      TRAIN_DEFAULTS.checkpointEvery,
    );
  });
});
