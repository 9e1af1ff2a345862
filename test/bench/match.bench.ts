/**
 * Rule matching cost as the region grows: 100,000 events matched against 100 and against 10,000
 * subscribed services (3 rules each, the stateless profile), median of 3 runs after a warm-up.
 * The configuration is the shipped one with a generated services file, loaded through the real
 * loader. Run: npm run bench:match. `--smoke`: a small size for CI (the figures mean little).
 */
import { loadConfig } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/source.js';
import { defaultCatalog } from '../../src/controller/catalog.js';
import type { LzEvent } from '../../src/events/schema.js';
import { Matcher } from '../../src/matching/matcher.js';
import { table } from '../../src/cli/format.js';
import { copyConfig } from '../helpers/config-copy.js';

const SMOKE = process.argv.includes('--smoke');
const EVENTS = SMOKE ? 2_000 : 100_000;
const RUNS = SMOKE ? 1 : 3;
const SIZES = SMOKE ? [100, 1_000] : [100, 10_000];

/** A deterministic pseudo-random sequence, so that every run matches the same events. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

function events(services: number): LzEvent[] {
  const rand = lcg(42);
  const kinds: Pick<LzEvent, 'type' | 'data' | 'environment'>[] = [
    { type: 'NagiosHostAlarm', environment: 'prod', data: { host_state: 'DOWN', host_state_type: 'HARD' } },
    { type: 'NagiosHostAlarm', environment: 'prod', data: { host_state: 'DOWN', host_state_type: 'SOFT' } },
    { type: 'HealthcheckDown', environment: 'stage', data: {} },
    { type: 'AWSScheduledEvent', environment: 'prod', data: { event_code: 'instance-retirement' } },
    { type: 'DiskFull', environment: 'prod', data: {} },
  ];
  return Array.from({ length: EVENTS }, (_, i) => {
    const kind = kinds[Math.floor(rand() * kinds.length)]!;
    const service = `svc-${Math.floor(rand() * services)}`;
    return {
      id: `ev-${i}`,
      source: 'bench',
      time: '2026-11-22T03:00:00Z',
      service,
      host: `${service}-1`,
      ...kind,
    };
  });
}

async function matcherFor(services: number): Promise<Matcher> {
  const copy = await copyConfig();
  try {
    const lines = ['services:'];
    for (let i = 0; i < services; i++) lines.push(`  svc-${i}:`, '    profile: stateless');
    await copy.write('deploy/local/services.yaml', lines.join('\n') + '\n');
    const result = await loadConfig(copy.dir, defaultCatalog());
    if (!result.ok) throw new Error(result.issues.map(formatIssue).join('\n'));
    return new Matcher(result.config.services);
  } finally {
    await copy.remove();
  }
}

function run(matcher: Matcher, batch: readonly LzEvent[]): { ns: number; matched: number } {
  let matched = 0;
  const start = process.hrtime.bigint();
  for (const event of batch) if (matcher.match(event) !== undefined) matched++;
  return { ns: Number(process.hrtime.bigint() - start), matched };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const rows = [['services', 'rules', 'events', 'matched', 'events/s', 'µs/event (median of 3)']];
  const perEvent: number[] = [];
  for (const size of SIZES) {
    process.stderr.write(`loading ${size} services...\n`);
    const matcher = await matcherFor(size);
    const batch = events(size);
    run(matcher, batch); // warm-up: let the JIT settle
    const samples: number[] = [];
    let matched = 0;
    for (let r = 0; r < RUNS; r++) {
      const result = run(matcher, batch);
      samples.push(result.ns);
      matched = result.matched;
      process.stderr.write(`  ${size} services, run ${r + 1}/${RUNS}: ${(result.ns / 1e6).toFixed(1)} ms\n`);
    }
    const ns = median(samples);
    perEvent.push(ns / EVENTS / 1000);
    rows.push([
      String(size),
      String(size * 3),
      String(EVENTS),
      String(matched),
      Math.round(EVENTS / (ns / 1e9)).toLocaleString('en-US'),
      (ns / EVENTS / 1000).toFixed(3),
    ]);
  }
  process.stdout.write('\n' + table(rows) + '\n\n');
  const ratio = (perEvent[1] ?? 0) / (perEvent[0] ?? 1);
  process.stdout.write(
    `cost at ${SIZES[1]} services / cost at ${SIZES[0]}: ${ratio.toFixed(2)}x (aim: within 1.2x; aim per event: <= 4 µs)\n`,
  );
  process.stdout.write(
    'reference (STACK-NOTES.md, same kind of machine): json-rules-engine, one engine per service: 40 µs/event\n',
  );
}

await main();
