import { describe, expect, it } from 'vitest';
import { parseTrainArgs } from '../src/cli-flags.js';
import { TRAIN_HELP } from '../src/cli-help.js';
import { resolveSettings } from '../src/cli-train.js';
import { trainStageConfigSchema } from '../src/train-config.js';
import { TRAIN_DEFAULTS } from '../src/train-defaults.js';

describe('one defaults table for the train stage and rpg-diffusion-decoder train', () => {
  it('the stage schema fills in every default from TRAIN_DEFAULTS', () => {
    const c = trainStageConfigSchema.parse({ prototype: { d: 16 } });
    const { decoder, ...top } = TRAIN_DEFAULTS;
    expect(c).toMatchObject(top);
    expect(c.decoder).toEqual({ ...decoder, channels: [...decoder.channels] });
  });

  it('the CLI without flags resolves to the stage defaults, d defaulting to the token size', async () => {
    const args = parseTrainArgs({ tokens: 'tok', out: 'out' });
    const cli = await resolveSettings(args, 16);
    expect(cli).toEqual(trainStageConfigSchema.parse({ prototype: { d: 16 } }));
  });

  it('flags set the keys of the section they name', async () => {
    const args = parseTrainArgs({
      tokens: 'tok',
      out: 'out',
      model: 'lstm',
      channels: '1,8,1',
      'batch-size': '3',
      'checkpoint-every': '7',
    });
    const cli = await resolveSettings(args, 16);
    expect(cli).toEqual(
      trainStageConfigSchema.parse({
        prototype: { model: 'lstm', d: 16 },
        decoder: { channels: [1, 8, 1] },
        batchSize: 3,
        checkpointEvery: 7,
      }),
    );
  });

  it('the help states the defaults of the table', () => {
    expect(TRAIN_HELP).toContain(`optimiser steps (default ${TRAIN_DEFAULTS.steps})`);
    expect(TRAIN_HELP).toContain(`(default ${TRAIN_DEFAULTS.checkpointEvery}; needs --resume-dir)`);
    expect(TRAIN_HELP).toContain(
      `--states <mode>           permutation states: ${TRAIN_DEFAULTS.states} (default)`,
    );
    expect(TRAIN_HELP).toContain(`(default ${TRAIN_DEFAULTS.decoder.channels.join(',')})`);
  });
});
