/**
 * Rule matching cost as the region grows: 100,000 events matched against 100 and against 10,000
 * subscribed services (3 rules each, the stateless profile), median of 3 runs after a warm-up (each run of ours 10 passes over the events, the peer one).
 * The configuration is the shipped one with a generated services file, loaded through the real
 * loader. Beside it, in the same run, the peer: json-rules-engine with the same compiled rules (one
 * engine per service, each rule's criteria as `all` conditions, the first rule of the profile's
 * order that holds wins), on the same events; each figure with the peer's and the ratio.
 * Run: npm run bench:match. `--smoke`: a small size for CI (the figures mean little).
 */
import { loadConfig } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/source.js';
import { defaultCatalog } from '../../src/controller/catalog.js';
import type { LzEvent } from '../../src/events/schema.js';
import { Matcher } from '../../src/matching/matcher.js';
import { table } from '../../src/cli/format.js';
import { copyConfig } from '../helpers/config-copy.js';
import { Engine } from 'json-rules-engine';
import type { CompiledService } from '../../src/config/types.js';

const SMOKE = process.argv.includes('--smoke');
const EVENTS = SMOKE ? 2_000 : 100_000;
const RUNS = SMOKE ? 1 : 3;
/**
 * Times the matcher goes through the batch in one run: once takes it some 25 ms, short enough for
 * one collection or one preemption to move a run by half; the peer, 300 times slower, goes once.
 */
const PASSES = SMOKE ? 1 : 10;
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

async function servicesFor(services: number): Promise<ReadonlyMap<string, CompiledService>> {
  const copy = await copyConfig();
  try {
    const lines = ['services:'];
    for (let i = 0; i < services; i++) lines.push(`  svc-${i}:`, '    profile: stateless');
    await copy.write('deploy/local/services.yaml', lines.join('\n') + '\n');
    const result = await loadConfig(copy.dir, defaultCatalog());
    if (!result.ok) throw new Error(result.issues.map(formatIssue).join('\n'));
    return result.config.services;
  } finally {
    await copy.remove();
  }
}

/** The peer: one json-rules-engine per service, its rules' criteria as conditions, by service name. */
function enginesFor(services: ReadonlyMap<string, CompiledService>): Map<string, Engine> {
  const engines = new Map<string, Engine>();
  for (const service of services.values()) {
    const engine = new Engine([], { allowUndefinedFacts: true });
    service.rules.forEach((rule, index) => {
      const c = rule.criteria;
      engine.addRule({
        // The profile's order: the first rule wins, as the matcher's does.
        priority: service.rules.length - index,
        conditions: {
          all: [
            { fact: 'type', operator: 'in', value: [...c.eventType] },
            ...(c.environment === undefined
              ? []
              : [{ fact: 'environment', operator: 'in', value: [...c.environment] }]),
            ...[...c.eventData].map(([field, values]) => ({
              fact: 'data',
              path: `$.${field}`,
              operator: 'in',
              value: [...values],
            })),
          ],
        },
        event: { type: rule.id },
      });
    });
    engines.set(service.name, engine);
  }
  return engines;
}

/** The peer's match of one batch: an event matches when its service's engine fires a rule. */
async function runPeer(
  engines: ReadonlyMap<string, Engine>,
  batch: readonly LzEvent[],
): Promise<{ ns: number; matched: number }> {
  let matched = 0;
  const start = process.hrtime.bigint();
  for (const event of batch) {
    const engine = engines.get(event.service);
    if (engine === undefined) continue;
    const { events: fired } = await engine.run({
      type: event.type,
      environment: event.environment,
      data: event.data,
    });
    if (fired.length > 0) matched++;
  }
  return { ns: Number(process.hrtime.bigint() - start), matched };
}

/** The matcher's cost of one pass over the batch (the mean of PASSES passes) and what it matched. */
function run(matcher: Matcher, batch: readonly LzEvent[]): { ns: number; matched: number } {
  let matched = 0;
  const start = process.hrtime.bigint();
  for (let pass = 0; pass < PASSES; pass++) {
    matched = 0;
    for (const event of batch) if (matcher.match(event) !== undefined) matched++;
  }
  return { ns: Number(process.hrtime.bigint() - start) / PASSES, matched };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const rows = [
    [
      'services',
      'rules',
      'events',
      'matched',
      'µs/event (median of 3)',
      'json-rules-engine µs/event',
      'ours ÷ peer',
    ],
  ];
  const perEvent: number[] = [];
  const peerPerEvent: number[] = [];
  for (const size of SIZES) {
    process.stderr.write(`loading ${size} services...\n`);
    const services = await servicesFor(size);
    const matcher = new Matcher(services);
    const engines = enginesFor(services);
    const batch = events(size);
    run(matcher, batch); // warm-up: let the JIT settle
    await runPeer(engines, batch.slice(0, Math.min(batch.length, 10_000)));
    const samples: number[] = [];
    const peerSamples: number[] = [];
    let matched = 0;
    for (let r = 0; r < RUNS; r++) {
      const result = run(matcher, batch);
      samples.push(result.ns);
      matched = result.matched;
      const peer = await runPeer(engines, batch);
      peerSamples.push(peer.ns);
      // Both say the same of every event, or the comparison means nothing.
      if (peer.matched !== result.matched)
        throw new Error(`json-rules-engine matched ${peer.matched} events, the matcher ${result.matched}`);
      process.stderr.write(
        `  ${size} services, run ${r + 1}/${RUNS}: ${(result.ns / 1e6).toFixed(1)} ms (json-rules-engine ${(peer.ns / 1e6).toFixed(0)} ms)\n`,
      );
    }
    const ns = median(samples);
    const peerNs = median(peerSamples);
    perEvent.push(ns / EVENTS / 1000);
    peerPerEvent.push(peerNs / EVENTS / 1000);
    rows.push([
      String(size),
      String(size * 3),
      String(EVENTS),
      String(matched),
      (ns / EVENTS / 1000).toFixed(3),
      (peerNs / EVENTS / 1000).toFixed(2),
      (ns / peerNs).toFixed(3),
    ]);
  }
  process.stdout.write('\n' + table(rows) + '\n\n');
  const ratio = (perEvent[1] ?? 0) / (perEvent[0] ?? 1);
  const peerRatio = (peerPerEvent[1] ?? 0) / (peerPerEvent[0] ?? 1);
  process.stdout.write(
    `cost at ${SIZES[1]} services / cost at ${SIZES[0]}: ${ratio.toFixed(2)}x (aim: within 1.2x; aim per event: <= 4 µs); json-rules-engine: ${peerRatio.toFixed(2)}x\n`,
  );
}

await main();
