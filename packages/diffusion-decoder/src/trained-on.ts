import { type TokenizerState, tokenizerDifference, tokenPositions } from '@rpg/tokenizer';
import type { TrainedGenerator } from './train-generator.js';

/**
 * Throws unless `state` is the tokenizer the generator was trained on: the same token layout and, when the
 * generator recorded it, the same normalization. Generating with another tokenizer's state would write models
 * that look right and are wrong. `where` names the tokenizer in the message.
 */
export function checkTrainedOn(gen: TrainedGenerator, state: TokenizerState, where: string): void {
  const { config } = gen;
  const positions = tokenPositions(state);
  const sameLayout =
    state.config.tokenSize === config.decoder.tokenSize &&
    positions.length === config.positions.length &&
    positions.every((p, i) => {
      const q = config.positions[i]!;
      return (
        p.layerIndex === q.layerIndex && p.indexInLayer === q.indexInLayer && p.layerTokens === q.layerTokens
      );
    });
  const difference = !sameLayout
    ? `it lays out ${positions.length} tokens of ${state.config.tokenSize} values, the generator ` +
      `${config.positions.length} tokens of ${config.decoder.tokenSize} in another layout`
    : config.tokenizer && tokenizerDifference(config.tokenizer, state);
  if (difference) {
    throw new Error(
      `the tokenizer ${where} is not the one this generator was trained on: ${difference}. ` +
        'Use the tokens the generator was trained on',
    );
  }
}
