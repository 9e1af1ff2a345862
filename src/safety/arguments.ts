/**
 * Checks of the gates' arguments. They go to Lua as strings, where a `NaN` or `1e21` would become
 * a score or a TTL that Redis rejects or, worse, accepts; a bad argument is a bug of the caller, so
 * it fails before anything is written.
 */
import { invalidArgument } from './errors.js';

/** A safe integer at least `min` (epoch milliseconds, durations, thresholds, tokens). */
export function requireInteger(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw invalidArgument(`${name} must be an integer >= ${min}, got ${String(value)}`);
  }
}

/** A non-empty string (service, resource, owner, event id). */
export function requireName(name: string, value: string): void {
  if (typeof value !== 'string' || value.length === 0) {
    throw invalidArgument(`${name} must be a non-empty string`);
  }
}
