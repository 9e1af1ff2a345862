/**
 * Durations as people write them in YAML: `500ms`, `10s`, `5m`, `2h`, `1d`, or a sum such as `1h30m`.
 * Kept here (a few lines) rather than pulling in a package: the grammar is the schema's pattern.
 */
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** The JSON Schema pattern of a duration string; `parseDuration` accepts exactly these. */
export const DURATION_PATTERN = '^([0-9]+(ms|s|m|h|d))+$';

const PART = /([0-9]+)(ms|s|m|h|d)/g;

/** Milliseconds of a duration string, or `undefined` when it does not follow `DURATION_PATTERN`. */
export function parseDuration(text: string): number | undefined {
  if (!new RegExp(DURATION_PATTERN).test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART)) {
    total += Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
  }
  return total;
}

/** `90000` → `1m30s`: the inverse of `parseDuration`, for messages and compiled-config printouts. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const unit of ['d', 'h', 'm', 's', 'ms'] as const) {
    const size = UNIT_MS[unit];
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}
