import { SafetensorsStreamWriter } from '@rpg/core';
import { layoutSegments, type Segment } from './layout.js';
import type { LayerLayout, TensorStats, TokenizerState } from './state.js';
import { stateStructure } from './tokenize.js';
import { decodeRun } from './transform.js';

/** A generated model whose parameters are not all finite: it is refused, never written. */
export class NonFiniteError extends Error {
  override readonly name = 'NonFiniteError';
}

/**
 * Detokenizes one checkpoint straight into its safetensors file as token rows arrive, so neither the tokens nor
 * the tensors of a whole network are ever held: memory is bounded by the chunk handed to `writeRows`. The file
 * is the one `detokenize` + `writeSafetensorsFile` would write, and appears only when `close` succeeds.
 */
export class DetokenizingWriter {
  private readonly k: number;
  private readonly parts: { entry: LayerLayout; stats: TensorStats; segments: Segment[] }[];

  private constructor(
    private readonly state: TokenizerState,
    private readonly writer: SafetensorsStreamWriter,
  ) {
    this.k = state.config.tokenSize;
    const segments = layoutSegments(state.layout, this.k, state.config.granularity);
    this.parts = state.layout.map((entry, i) => {
      const stats = state.stats[entry.name];
      if (!stats) throw new Error(`tokenizer state has no statistics for "${entry.name}"`);
      return { entry, stats, segments: segments[i]! };
    });
  }

  /** Opens `path` (it appears on `close`) and writes the copied tensors. */
  static async open(state: TokenizerState, path: string): Promise<DetokenizingWriter> {
    const writer = await SafetensorsStreamWriter.open(path, stateStructure(state));
    try {
      const out = new DetokenizingWriter(state, writer);
      for (const [name, entry] of state.copied) await writer.write(name, 0, entry.data);
      return out;
    } catch (e) {
      await writer.abort();
      throw e;
    }
  }

  /** Token rows `startRow ..` (`values.length / tokenSize` rows, row-major; padding values are ignored). */
  async writeRows(startRow: number, values: Float32Array): Promise<void> {
    const k = this.k;
    if (values.length % k !== 0) {
      throw new Error(`writeRows needs whole rows of ${k} values, got ${values.length} values`);
    }
    const rows = values.length / k;
    if (!Number.isInteger(startRow) || startRow < 0 || startRow + rows > this.state.numTokens) {
      throw new Error(
        `rows ${startRow}..${startRow + rows} are outside the ${this.state.numTokens} token rows`,
      );
    }
    const from = startRow * k;
    const to = from + values.length;
    for (const { entry, stats, segments } of this.parts) {
      for (const s of segments) {
        const lo = Math.max(from, s.start);
        const hi = Math.min(to, s.start + s.length);
        if (lo >= hi) continue;
        const decoded = new Float32Array(hi - lo);
        decodeRun(values, lo - from, hi - lo, decoded, 0, stats, entry.transform);
        const bad = decoded.findIndex((v) => !Number.isFinite(v));
        if (bad >= 0) {
          await this.abort();
          throw new NonFiniteError(
            `${this.writer.path}: tensor "${entry.name}" would get a non-finite value (${decoded[bad]}) at flat ` +
              `index ${s.source + (lo - s.start) + bad}; nothing was written. The generator produced NaN or ` +
              'infinite tokens: check its weights (rpg-diffusion-decoder inspect) and its training loss',
          );
        }
        await this.writer.write(entry.name, s.source + (lo - s.start), decoded);
      }
    }
  }

  /** Completes the file; fails (and leaves no file) if some token rows were never written. */
  async close(): Promise<void> {
    await this.writer.close();
  }

  async abort(): Promise<void> {
    await this.writer.abort();
  }
}
