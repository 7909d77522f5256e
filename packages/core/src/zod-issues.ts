import type { z } from 'zod';

/** A zod error as one line per issue, `path: message` (`(root)` for the value itself), e.g. `train.steps: …`. */
export function issueLines(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
}
