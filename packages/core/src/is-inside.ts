import * as path from 'node:path';

/**
 * Whether `child` lies strictly inside the directory `parent` (or is `parent` itself, with `orSame`), by their
 * resolved paths. Light (node's own modules only): `@rpg/core/is-inside` imports it alone.
 */
export function isInside(parent: string, child: string, options: { orSame?: boolean } = {}): boolean {
  const rel = path.relative(path.resolve(parent), path.resolve(child));
  if (rel === '') return options.orSame === true;
  return rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}
