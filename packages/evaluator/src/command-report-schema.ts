/**
 * The report of an evaluation by the user's command: the built-in report's shape, with what a command may not
 * provide made optional (the IoU figures need per-sample predictions; the test-set size too). The report page
 * renders this wider shape, so it renders both.
 */
import { z } from 'zod';
import { reportSchema } from './report-schema.js';

const unit = z.number().min(0).max(1);
const noiseEntry = reportSchema.shape.noise.element;

export const anyReportSchema = reportSchema.extend({
  /** The score's name when `evaluate.command` gave it (a fraction, shown in percent); absent: test accuracy. */
  metric: z.string().optional(),
  dataset: z.object({ name: z.string(), testSize: z.number().int().positive().optional() }),
  iou: reportSchema.shape.iou.optional(),
  noise: z.array(
    noiseEntry.extend({
      maxIouToOriginal: unit.optional(),
      perModel: z.array(noiseEntry.shape.perModel.element.extend({ maxIouToOriginal: unit.optional() })),
    }),
  ),
});

/** A built-in report or a command's (every built-in report is one). */
export type AnyReport = z.infer<typeof anyReportSchema>;
