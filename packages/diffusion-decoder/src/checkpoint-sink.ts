import { join } from 'node:path';
import { DetokenizingWriter, type TokenizerState } from '@rpg/tokenizer';

/**
 * A `generate` write callback that detokenizes each model's tokens straight into `dir/fileOf(model)`, chunk by
 * chunk: memory stays bounded by the chunk size whatever the size of the target network. `onFile` runs once a
 * model's file is complete; `abort` drops a file left half-written by a failure.
 */
export function checkpointSink(
  state: TokenizerState,
  dir: string,
  fileOf: (model: number) => string,
  onFile?: (model: number, file: string) => void,
): {
  write: (model: number, startRow: number, values: Float32Array) => Promise<void>;
  abort: () => Promise<void>;
} {
  const k = state.config.tokenSize;
  let open: { model: number; writer: DetokenizingWriter; rows: number } | undefined;
  return {
    write: async (model, startRow, values) => {
      if (open && open.model !== model) {
        throw new Error(`model ${model} started before model ${open.model} was complete`);
      }
      if (!open) {
        open = { model, writer: await DetokenizingWriter.open(state, join(dir, fileOf(model))), rows: 0 };
      }
      await open.writer.writeRows(startRow, values);
      open.rows += values.length / k;
      if (open.rows < state.numTokens) return;
      const done = open;
      open = undefined;
      await done.writer.close();
      onFile?.(model, fileOf(model));
    },
    abort: async () => {
      await open?.writer.abort();
      open = undefined;
    },
  };
}
