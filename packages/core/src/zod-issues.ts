import type { z } from 'zod';

/** How many issues an error message lists before it says how many more there are. */
export const MAX_LISTED_ISSUES = 20;

/**
 * A zod error's issues as `path: message` lines, at most `max` of them and then `… and N more issues`: a config
 * full of bad values must give a readable message, not one line per value.
 */
export function issueLines(error: z.ZodError, max = MAX_LISTED_ISSUES): string[] {
  const lines = error.issues.slice(0, max).map((i) => clip(`${i.path.join('.') || '(root)'}: ${i.message}`));
  const more = error.issues.length - lines.length;
  if (more > 0) lines.push(`… and ${more} more issue${more === 1 ? '' : 's'}`);
  return lines;
}

/** zod quotes bad values and keys in some messages; a huge one must not become a huge message. */
function clip(message: string, max = 300): string {
  return message.length <= max ? message : `${message.slice(0, max)}… (${message.length} characters)`;
}
