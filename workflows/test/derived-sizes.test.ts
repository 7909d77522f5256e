import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseNetworkSpec } from '@rpg/checkpoint-harvest';
import { describe, expect, it } from 'vitest';
import { deriveSizes, describeDerived, fillDerivedSizes, targetShape } from '../src/derived-sizes.js';
import { parseExperiment } from '../src/experiment.js';
import { parsePipelineConfig, pipelineConfigSchema } from '../src/pipeline-config.js';

const example = async (name: string) =>
  JSON.parse(await readFile(resolve(import.meta.dirname, '../../examples', name), 'utf8')) as Record<
    string,
    // biome-ignore lint/suspicious/noExplicitAny: a raw config, edited field by field
    any
  >;

const shapeOf = (spec: unknown) => targetShape(parseNetworkSpec(spec));

describe('sizes derived from the target network', () => {
  it('gives the MLP example its own token size and d, and 1,200 steps', () => {
    const shape = shapeOf({ type: 'mlp', sizes: [784, 64, 10] });
    expect(shape).toMatchObject({ parameters: 50_890, tensors: 4, largest: 50_176 });
    expect(deriveSizes(shape, 256)).toEqual({ tokenSize: 256, d: 128, steps: 1200, tokens: 201 });
  });

  it('grows with the network: CNN → 64, ResNet-sized → 1,024, and more tokens need more steps', () => {
    const cnn = deriveSizes(
      shapeOf({
        type: 'cnn',
        inputShape: [28, 28, 1],
        conv: [
          { out: 8, kernel: 3, padding: 1, bias: false, pool: true },
          { out: 12, kernel: 3, padding: 1, bias: false, pool: true },
          { out: 16, kernel: 3, padding: 1, bias: false },
        ],
        numClasses: 10,
      }),
      256,
    );
    expect([cnn.tokenSize, cnn.d]).toEqual([64, 128]);
    // 59 tokens would need only 400 steps by the visits rule; BatchNorm raises them to 2,400.
    expect(cnn.tokens).toBe(59);
    expect(cnn.steps).toBe(2400);
    const big = deriveSizes(shapeOf({ type: 'mlp', sizes: [784, 1024, 1024, 10] }), 256);
    expect(big.tokenSize).toBe(1024);
    expect(big.d).toBe(256);
    expect(big.steps).toBe(10_000);
    // An explicit smaller token size doubles the tokens, and the steps follow (same visits per token).
    const shape = shapeOf({ type: 'mlp', sizes: [784, 100, 10] });
    const at256 = deriveSizes(shape, 128, { tokenSize: 256 });
    const at128 = deriveSizes(shape, 128, { tokenSize: 128 });
    expect(at128.tokens).toBeGreaterThan(1.9 * at256.tokens);
    expect(at128.steps).toBeGreaterThan(1.9 * at256.steps - 100);
    // d is at least 128: d 64 collapsed at tokens of 128 (MLP) and 64 (CNN) in bench:sensitivity.
    expect(at128.d).toBe(128);
    expect(deriveSizes(shape, 128, { tokenSize: 64 }).d).toBe(128);
    expect(deriveSizes(shape, 128, { tokenSize: 512 }).d).toBe(256);
  });

  it('fills only what a config leaves out, and says so in one line', async () => {
    const raw = await example('mnist-mlp.json');
    raw.harvest.network = { type: 'mlp', sizes: [784, 48, 10] };
    delete raw.tokenizer.tokenSize;
    delete raw.train.prototype.d;
    delete raw.train.steps;
    const { choice } = fillDerivedSizes(raw);
    expect(choice?.derived).toEqual(['tokenSize', 'd', 'steps']);
    const config = parsePipelineConfig(raw);
    expect(config.tokenizer.tokenSize).toBe(256);
    expect(config.train.prototype.d).toBe(128);
    expect(config.train.steps).toBe(1200);
    expect(describeDerived(choice!)).toMatch(
      /^derived token size 256, d 128, 1,200 steps — from 38,170 parameters in 4 tensors/,
    );
    const experiment = parseExperiment(raw);
    expect(experiment.kind === 'pipeline' && experiment.derived).toContain('token size 256');
    // An explicit value wins; the rest still follows the rule.
    raw.train.steps = 77;
    raw.tokenizer.tokenSize = 128;
    const mixed = parsePipelineConfig(raw);
    expect([mixed.tokenizer.tokenSize, mixed.train.prototype.d, mixed.train.steps]).toEqual([128, 128, 77]);
  });

  it('leaves the examples, which give every size, exactly as they are', async () => {
    for (const name of ['mnist-mlp.json', 'mnist-cnn.json', 'mnist-resnet.json']) {
      const raw = await example(name);
      expect(fillDerivedSizes(raw).choice).toBeNull();
      expect(parsePipelineConfig(raw)).toEqual(pipelineConfigSchema.parse(raw));
    }
  });

  it('derives the MLP example its own sizes, so leaving them out runs the example itself', async () => {
    const raw = await example('mnist-mlp.json');
    const full = parsePipelineConfig(raw);
    delete raw.tokenizer.tokenSize;
    delete raw.train.prototype.d;
    delete raw.train.steps;
    expect(parsePipelineConfig(raw)).toEqual(full);
  });

  it('still names a missing size when the network itself is invalid', async () => {
    const raw = await example('mnist-mlp.json');
    raw.harvest.network = { type: 'mlp', sizes: [784] };
    delete raw.tokenizer.tokenSize;
    expect(() => parsePipelineConfig(raw)).toThrow(/tokenizer\.tokenSize/);
  });
});
