import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { z } from 'zod';

/** What a finished run's report.json says about it (both report kinds carry these fields). */
export interface RunVerdict {
  verdict: 'match' | 'short' | 'failed';
  line: string;
  causes: string[];
  reportDir: string;
}

const verdictFields = z.object({
  verdict: z.enum(['match', 'short', 'failed']),
  verdictLine: z.string(),
  verdictCauses: z.array(z.string()).default([]),
});

/** The verdict in `<reportDir>/report.json`; undefined when the file is missing, unreadable or has none. */
export async function readRunVerdict(reportDir: string): Promise<RunVerdict | undefined> {
  const text = await readFile(join(reportDir, 'report.json'), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = verdictFields.safeParse(json);
  if (!parsed.success) return undefined;
  const { verdict, verdictLine, verdictCauses } = parsed.data;
  return { verdict, line: verdictLine, causes: verdictCauses, reportDir };
}

/** The verdict of a completed workflow, from the report its result names (read where this runs). */
export async function completedRunVerdict(handle: WorkflowHandle): Promise<RunVerdict | undefined> {
  const result = z.object({ reportDir: z.string() }).safeParse(await handle.result());
  return result.success ? readRunVerdict(result.data.reportDir) : undefined;
}
