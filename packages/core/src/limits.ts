/**
 * Upper bounds shared by the configs of several packages. Each is far above any sensible value and far below what
 * would run for days or exhaust memory before failing; the README lists every bound of every config.
 */

/** Seeds are used as unsigned 32-bit integers (see {@link Rng}): a larger one would silently alias a smaller one. */
export const MAX_SEED = 2 ** 32 - 1;
