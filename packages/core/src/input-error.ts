/**
 * The base class of every error that means "the input is wrong": a bad config field, a missing or corrupt
 * artifact, an unreadable file, a bad command line. Retrying gives the same error, so the activity layer fails
 * such an error for good instead of retrying it; subclasses set `name`, which becomes the failure's type.
 *
 * Light on purpose (no tfjs, no Temporal): `@rpg/core/input-error` imports it alone.
 */
export class InputError extends Error {
  override readonly name: string = 'InputError';
}
