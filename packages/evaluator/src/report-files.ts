/** What both report kinds (the pipeline's and the per-task one) do the same way: read back, and written out. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

/** The verdict fields both report kinds end with: match / short / failed, its one line, the causes seen. */
export const verdictFields = {
  verdict: z.enum(['match', 'short', 'failed']).optional(),
  verdictLine: z.string().optional(),
  verdictCauses: z.array(z.string()).optional(),
};

/** Parses a report (e.g. a report.json read back) with `schema`; the error names `what` and the bad fields. */
export function parseReportWith<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    throw new Error(`not a valid RPG ${what}: ${issues}`);
  }
  return result.data;
}

/**
 * Validates `report` with `schema`, then writes `report.json` and `report.html` (by `render`) into `dir` (created
 * if needed); returns their paths.
 */
export async function writeReportFiles<S extends z.ZodType>(
  dir: string,
  schema: S,
  report: unknown,
  render: (valid: z.output<S>) => string,
): Promise<{ json: string; html: string }> {
  const valid = schema.parse(report);
  await mkdir(dir, { recursive: true });
  const json = join(dir, 'report.json');
  const html = join(dir, 'report.html');
  await writeFile(json, `${JSON.stringify(valid, null, 2)}\n`);
  await writeFile(html, render(valid));
  return { json, html };
}
