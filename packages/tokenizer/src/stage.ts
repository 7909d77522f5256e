import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readCheckpointsMeta } from '@rpg/checkpoint-harvest';
import { type ArtifactRef, type ArtifactStore, type ProgressSink, silentProgress } from '@rpg/core';
import { z } from 'zod';
import { tokenizerConfigSchema } from './config.js';
import { TOKENS_FILE } from './state-file.js';
import { tokenizeFiles } from './tokenize-files.js';

/** Which run each tokenized checkpoint came from (for one permutation state per run). */
export const TOKENS_META_FILE = 'tokens-meta.json';
export const tokensMetaSchema = z.object({ runs: z.array(z.number().int().nonnegative()) });

/**
 * The tokenize stage: a `checkpoints` artifact → a `tokens` artifact holding the fitted tokenizer state, the tokens
 * of every checkpoint (`tokens.safetensors`) and their runs (`tokens-meta.json`). Reads one checkpoint at a time.
 */
export async function tokenizeStage(
  ctx: { store: ArtifactStore; progress?: ProgressSink },
  input: { checkpoints: ArtifactRef; tokenizer: z.input<typeof tokenizerConfigSchema> },
): Promise<ArtifactRef> {
  const config = tokenizerConfigSchema.parse(input.tokenizer);
  return ctx.store.put(
    { kind: 'tokens', stage: 'tokenize', config, inputs: [input.checkpoints] },
    async (dir) => {
      const { dir: src } = await ctx.store.get(input.checkpoints);
      const meta = await readCheckpointsMeta(src);
      const files = meta.checkpoints.map((c) => ({ path: join(src, c.file), name: c.file }));
      await tokenizeFiles(
        files,
        config,
        { stateDir: dir, tokensPath: join(dir, TOKENS_FILE) },
        ctx.progress ?? silentProgress,
      );
      await writeFile(
        join(dir, TOKENS_META_FILE),
        `${JSON.stringify({ runs: meta.checkpoints.map((c) => c.run) })}\n`,
      );
    },
  );
}
