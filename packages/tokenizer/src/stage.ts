import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readCheckpointsDir } from '@rpg/checkpoint-harvest';
import { type ArtifactRef, type ArtifactStore, type ProgressSink, silentProgress } from '@rpg/core';
import { z } from 'zod';
import { tokenizerConfigSchema } from './config.js';
import { fitTokenizer } from './fit.js';
import { saveTokenizerState, TOKENS_FILE, writeTokens } from './io.js';
import { tokenize } from './tokenize.js';

/** Which run each tokenized checkpoint came from (for one permutation state per run). */
export const TOKENS_META_FILE = 'tokens-meta.json';
export const tokensMetaSchema = z.object({ runs: z.array(z.number().int().nonnegative()) });

/**
 * The tokenize stage: a `checkpoints` artifact → a `tokens` artifact holding the fitted tokenizer state, the tokens
 * of every checkpoint (`tokens.safetensors`) and their runs (`tokens-meta.json`).
 */
export async function tokenizeStage(
  ctx: { store: ArtifactStore; progress?: ProgressSink },
  input: { checkpoints: ArtifactRef; tokenizer: z.input<typeof tokenizerConfigSchema> },
): Promise<ArtifactRef> {
  const config = tokenizerConfigSchema.parse(input.tokenizer);
  const progress = ctx.progress ?? silentProgress;
  return ctx.store.put(
    { kind: 'tokens', stage: 'tokenize', config, inputs: [input.checkpoints] },
    async (dir) => {
      const { dir: src } = await ctx.store.get(input.checkpoints);
      const { meta, stateDicts } = await readCheckpointsDir(src);
      const state = fitTokenizer(stateDicts, config);
      const tokens = stateDicts.map((sd, i) => {
        const t = tokenize(state, sd, meta.checkpoints[i]!.file);
        progress({ stage: 'tokenize', step: i + 1, total: stateDicts.length });
        return t;
      });
      await saveTokenizerState(dir, state);
      await writeTokens(join(dir, TOKENS_FILE), tokens, state, {
        names: meta.checkpoints.map((c) => c.file),
      });
      await writeFile(
        join(dir, TOKENS_META_FILE),
        `${JSON.stringify({ runs: meta.checkpoints.map((c) => c.run) })}\n`,
      );
    },
  );
}
