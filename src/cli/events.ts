/**
 * `lazarus events [--service S --host H --status X --reason R --since T --until T --limit N --cursor C]
 * [--api URL] [--token T] [--json]` and `lazarus event ID [--api URL] [--token T] [--json]`: the
 * event list and one event's trace, as tables, from a node's REST API.
 *
 * Without `--api`, the nodes of the configuration's `region.yaml` are asked in order until one
 * answers: any node serves the whole region, and during an incident the first one may be the one
 * that is down. Only `region.yaml` is read (not the rules and services), so that a broken service
 * file does not keep an operator from reading the audit trail. The token comes from `--token`, else
 * from the environment variable that `region.yaml`'s `api.token_env` names (`LAZARUS_API_TOKEN` by
 * default, the variable the nodes read theirs from); it is needed when the nodes protect reads.
 *
 * HTTPS: when `region.yaml` has `api.tls`, the configured nodes (and an `--api host:port` without
 * a scheme) are asked over https. Their certificate must chain to the CA of `--ca FILE` (else
 * `$LAZARUS_API_CA`), and only to it, as curl's `--cacert`: a region's nodes usually have
 * certificates of the region's own CA, and no public CA should be able to vouch for one. Without
 * either, Node's own CA list is used (its bundled roots and `NODE_EXTRA_CA_CERTS`). The peers' CA
 * is not trusted by itself: which CA signs the API's certificates is the operator's choice, and
 * the CA that decides who may vote is not widened to the API without saying so. An https answer
 * is never retried over http.
 *
 * The tables go to `out`; what went wrong (a refusal, no such event, no node answering) to `err`.
 *
 * Exit 0: printed; 1: no such event; 2: bad usage, refused filter, or no node answered.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { formatDuration, parseDuration } from '../common/duration.js';
import { HttpGetError, httpGet } from '../common/http-get.js';
import { REGION_FILE } from '../config/load.js';
import { remediatedText, submitterText } from '../audit/timeline.js';
import { table } from './format.js';

export interface ApiTarget {
  /** `http://host:port` or `host:port` of a node's API. @defaultValue the nodes of the configuration, in order */
  readonly api?: string;
  /** @defaultValue `$LAZARUS_API_TOKEN` */
  readonly token?: string;
  /**
   * A PEM file of the CA certificates an https node's certificate must chain to (only these).
   * @defaultValue `$LAZARUS_API_CA`, else Node's own CA list
   */
  readonly ca?: string;
  /** Print the API's JSON as it is. */
  readonly json?: boolean;
}

export interface EventsCommandOptions extends ApiTarget {
  readonly service?: string;
  readonly host?: string;
  readonly status?: string;
  readonly reason?: string;
  /** A time (RFC 3339 or epoch ms) or a duration back from now (`15m`). */
  readonly since?: string;
  readonly until?: string;
  readonly limit?: string;
  readonly cursor?: string;
}

const TIMEOUT_MS = 10_000;
/** Where the token is read from when `region.yaml` does not say (`api.token_env`). */
export const DEFAULT_TOKEN_ENV = 'LAZARUS_API_TOKEN';
/** The CA file of https nodes when `--ca` is not given. */
export const CA_ENV = 'LAZARUS_API_CA';

export async function eventsCommand(
  dir: string,
  options: EventsCommandOptions,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream = out,
): Promise<number> {
  const query = new URLSearchParams();
  for (const name of ['service', 'host', 'status', 'reason', 'limit', 'cursor'] as const) {
    const value = options[name];
    if (value !== undefined) query.set(name, value);
  }
  for (const name of ['since', 'until'] as const) {
    const value = options[name];
    if (value === undefined) continue;
    const back = parseDuration(value);
    query.set(name, back === undefined ? value : String(Date.now() - back));
  }
  const answer = await get(dir, options, `/v1/events${query.size > 0 ? `?${query.toString()}` : ''}`, err);
  if (answer === undefined) return 2;
  if (answer.status !== 200) return refused(answer, err);
  if (options.json === true) {
    out.write(JSON.stringify(answer.body, null, 2) + '\n');
    return 0;
  }
  const page = answer.body as { items: Summary[]; next?: string; scanned?: number };
  if (page.items.length > 0) out.write(eventsTable(page.items) + '\n');
  else out.write(`no events match (${page.scanned ?? 0} looked at)\n`);
  if (page.next !== undefined) out.write(`\nmore: add --cursor ${page.next}\n`);
  return 0;
}

export async function eventCommand(
  dir: string,
  id: string,
  options: ApiTarget,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream = out,
): Promise<number> {
  const answer = await get(dir, options, `/v1/events/${encodeURIComponent(id)}`, err);
  if (answer === undefined) return 2;
  // A 404 of a route that exists is the event not being there; the API says which (unknown, not
  // decided yet, expired).
  if (answer.status === 404) {
    err.write(`${id}: ${messageOf(answer.body)}\n`);
    return 1;
  }
  if (answer.status !== 200) return refused(answer, err);
  if (options.json === true) {
    out.write(JSON.stringify(answer.body, null, 2) + '\n');
    return 0;
  }
  const body = answer.body as {
    decision?: Decision;
    run?: Run | null;
    rejected?: Rejected;
    timeline?: TimelineEntry[];
  };
  if (body.rejected !== undefined) out.write(rejectedText(body.rejected) + '\n');
  else if (body.decision !== undefined) out.write(traceText(body.decision, body.run ?? undefined) + '\n');
  // Older nodes do not send a timeline: the trace above is then all there is.
  if (Array.isArray(body.timeline) && body.timeline.length > 0)
    out.write('\n' + timelineText(body.timeline) + '\n');
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Talking to a node

interface Answer {
  readonly status: number;
  readonly body: unknown;
  /** Where the token was looked for (when not given with `--token`), and whether one was sent. */
  readonly tokenEnv: string;
  readonly sentToken: boolean;
}

/** GET from `--api`, else from each configured node in turn until one answers. */
async function get(
  dir: string,
  options: ApiTarget,
  path: string,
  err: NodeJS.WritableStream,
): Promise<Answer | undefined> {
  const region = await readRegion(dir);
  const scheme = apiScheme(region);
  let bases: string[];
  try {
    bases = options.api !== undefined ? [baseUrl(options.api, scheme)] : configuredApis(region, scheme);
  } catch (error) {
    err.write(`lazarus: ${(error as Error).message}\n`);
    return undefined;
  }
  const caFile = options.ca ?? (process.env[CA_ENV] === '' ? undefined : process.env[CA_ENV]);
  let ca: Buffer | undefined;
  if (caFile !== undefined) {
    try {
      ca = await readFile(caFile);
    } catch (error) {
      const where = options.ca === undefined ? `$${CA_ENV}` : '--ca';
      err.write(
        `lazarus: ${where} ${caFile} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})\n`,
      );
      return undefined;
    }
  }
  const env = tokenEnv(region);
  const token = options.token ?? process.env[env];
  const sentToken = token !== undefined && token !== '';
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (sentToken) headers['Authorization'] = `Bearer ${token}`;
  const failures: string[] = [];
  const hints = new Set<string>();
  for (const base of bases) {
    try {
      const res = await httpGet(base + path, {
        headers,
        timeoutMs: TIMEOUT_MS,
        ...(ca === undefined ? {} : { ca }),
      });
      let body: unknown;
      try {
        body = JSON.parse(res.text);
      } catch {
        body = { error: { code: 'NOT_JSON', message: res.text.slice(0, 200) } };
      }
      // 503: this node cannot read Redis or is not running; another one may.
      if (res.status === 503 && bases.length > 1) {
        failures.push(`${base}: ${messageOf(body)}`);
        continue;
      }
      return { status: res.status, body, tokenEnv: env, sentToken };
    } catch (error) {
      const { why, hint } = whyNoAnswer(error, base, caFile);
      failures.push(`${base}: ${why}`);
      if (hint !== undefined) hints.add(hint);
    }
  }
  err.write(
    `lazarus: no node's API answered:\n${failures.map((f) => `  ${f}\n`).join('')}` +
      [...hints].map((h) => `lazarus: ${h}\n`).join(''),
  );
  return undefined;
}

/** Why a node gave no answer, in a line, and what may help (a certificate not trusted, a wrong scheme). */
function whyNoAnswer(
  error: unknown,
  base: string,
  caFile: string | undefined,
): { why: string; hint?: string } {
  const code = error instanceof HttpGetError ? error.code : undefined;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'ETIMEDOUT') return { why: `no answer within ${formatDuration(TIMEOUT_MS)}` };
  const https = base.startsWith('https:');
  // Node's certificate checks: UNABLE_TO_VERIFY_LEAF_SIGNATURE, DEPTH_ZERO_SELF_SIGNED_CERT,
  // SELF_SIGNED_CERT_IN_CHAIN, CERT_HAS_EXPIRED, ERR_TLS_CERT_ALTNAME_INVALID, ...
  if (https && code !== undefined && /CERT|SIGNATURE|ALTNAME|ISSUER/.test(code))
    return {
      why: `the node's certificate is not trusted: ${code} (${message})`,
      hint:
        caFile === undefined
          ? `give --ca FILE (or set $${CA_ENV}): the CA that signed the nodes' API certificates`
          : `${caFile} is not the CA of the nodes' API certificates, or a certificate does not name the host asked for`,
    };
  if (https && code === 'EPROTO')
    return {
      why: `${code} (${message})`,
      hint: 'the node may serve plain HTTP: try an http:// URL with --api',
    };
  if (!https && (code === 'ECONNRESET' || /socket hang up/.test(message)))
    return {
      why: `${code ?? 'ECONNRESET'} (the connection was closed without an answer)`,
      hint: 'a node with api.tls serves only HTTPS: give an https:// URL with --api',
    };
  return { why: code ?? message };
}

/** `region.yaml` as parsed YAML, or why it could not be read (only a problem without `--api`). */
type RegionFile = { readonly file: string } & ({ readonly value: unknown } | { readonly error: string });

async function readRegion(dir: string): Promise<RegionFile> {
  const file = join(dir, REGION_FILE);
  try {
    return { file, value: parseYaml(await readFile(file, 'utf8')) as unknown };
  } catch (error) {
    return { file, error: (error as Error).message };
  }
}

/** The variable named by `api.token_env`, as the nodes read it; the default when the file cannot tell. */
function tokenEnv(region: RegionFile): string {
  const api = 'value' in region ? (region.value as { api?: { token_env?: unknown } } | null)?.api : undefined;
  const name = api?.token_env;
  return typeof name === 'string' && name !== '' ? name : DEFAULT_TOKEN_ENV;
}

/** `https` when `region.yaml` has `api.tls` (the nodes serve HTTPS), else `http`. */
function apiScheme(region: RegionFile): 'http' | 'https' {
  const api = 'value' in region ? (region.value as { api?: { tls?: unknown } } | null)?.api : undefined;
  return api?.tls !== undefined && api.tls !== null ? 'https' : 'http';
}

/** The `api` addresses of the nodes in `region.yaml`, in order. */
function configuredApis(region: RegionFile, scheme: 'http' | 'https'): string[] {
  const { file } = region;
  if ('error' in region) throw new Error(`${file} could not be read (${region.error}); give --api URL`);
  const nodes = (region.value as { nodes?: unknown } | null)?.nodes;
  const apis = Array.isArray(nodes)
    ? nodes.flatMap((n) => {
        const api = (n as { api?: unknown } | null)?.api;
        return typeof api === 'string' ? [baseUrl(api, scheme)] : [];
      })
    : [];
  if (apis.length === 0) throw new Error(`${file} names no node with an api address; give --api URL`);
  return apis;
}

/** `host:port` or a URL; a bare address gets the region's scheme. */
function baseUrl(api: string, scheme: 'http' | 'https'): string {
  const url = /^https?:\/\//.test(api) ? api : `${scheme}://${api}`;
  return url.replace(/\/+$/, '');
}

function refused(answer: Answer, err: NodeJS.WritableStream): number {
  const error = (answer.body as { error?: { code?: string; message?: string } }).error;
  err.write(
    `lazarus: ${answer.status} ${error?.code ?? ''}: ${error?.message ?? JSON.stringify(answer.body)}\n`,
  );
  if (answer.status === 401)
    err.write(
      answer.sentToken
        ? 'lazarus: the token was refused\n'
        : `lazarus: no token was sent: give --token T or set $${answer.tokenEnv}\n`,
    );
  return 2;
}

function messageOf(body: unknown): string {
  return (body as { error?: { message?: string } }).error?.message ?? JSON.stringify(body);
}

// ---------------------------------------------------------------------------------------------
// Printing (the API's JSON shapes, as far as the tables need them)

interface Summary {
  id: string;
  decided_at: string;
  service: string;
  host?: string;
  resource?: string;
  type: string;
  decision: string;
  reason?: string;
  rule?: string;
  coordinator: string;
  latency_ms?: number;
  run?: string;
}

interface Check {
  name: string;
  pass: boolean;
  measured: string;
  threshold: string;
  detail: string;
}

interface Decision {
  event_id: string;
  decision: string;
  reason?: string;
  reason_text?: string;
  service: string;
  host?: string;
  event_type: string;
  rule?: { id: string; workflow: string; lock: string };
  duplicate_of?: string;
  age_ms?: number;
  gates?: {
    rate?: { allowed: boolean; count: number; threshold: number; window_ms: number };
    breaker?: { open: boolean; services: number; threshold: number; window_ms: number };
    remediated?: Parameters<typeof remediatedText>[0];
  };
  lock?: { resource: string; owner: string; token: number; acquired: boolean };
  error?: string;
  quorum: number;
  coordinator: { node: string; zone: string };
  votes: { node: string; zone: string; pass: boolean; checks: Check[]; durationMs: number }[];
  failures: { node: string; error: string }[];
  late_votes?: { node: string; zone: string; pass: boolean; checks: Check[]; durationMs: number }[];
  late_failures?: { node: string; error: string }[];
  source: { shard: string; sequence: string; sub_sequence?: number };
  submitted_by?: { via: string; token?: string; node?: string };
  event_time: string;
  arrived_at: string;
  decided_at: string;
  latency_ms: number;
  vote_ms?: number;
}

interface Step {
  id: string;
  phase: string;
  status: string;
  attempts: number;
  started_at?: string;
  duration_ms?: number;
  error?: string;
  outputs?: Record<string, unknown>;
}

interface Run {
  id: string;
  workflow: string;
  status: string;
  started_at: string;
  finished_at?: string;
  failure?: { step: string; message: string; reason: string };
  nodes: string[];
  steps: Record<string, Step>;
}

interface Rejected {
  shard: string;
  sequence: string;
  sub_sequence?: number;
  code: string;
  message: string;
  errors: { path: string; message: string }[];
  size: number;
  raw: string;
  node: string;
  at: string;
}

/** One step of an event's life as the trace's `timeline` lists it (all the table needs of it). */
export interface TimelineEntry {
  /** RFC 3339. */
  at: string;
  stage: string;
  node?: string;
  ok?: boolean;
  title: string;
}

export function eventsTable(items: readonly Summary[]): string {
  return table([
    ['DECIDED', 'EVENT', 'SERVICE', 'HOST', 'TYPE', 'DECISION', 'REASON', 'RULE', 'NODE', 'LATENCY', 'RUN'],
    ...items.map((e) => [
      e.decided_at,
      e.id,
      e.service || '-',
      e.host ?? e.resource ?? '-',
      e.type || '-',
      e.decision,
      e.reason ?? '-',
      e.rule ?? '-',
      e.coordinator,
      e.latency_ms === undefined ? '-' : `${e.latency_ms}ms`,
      e.run ?? '-',
    ]),
  ]);
}

export function traceText(d: Decision, run: Run | undefined): string {
  const lines: string[] = [];
  const gates: string[] = [];
  if (d.gates?.rate !== undefined) {
    const r = d.gates.rate;
    gates.push(
      `rate ${r.count}/${r.threshold} in ${formatDuration(r.window_ms)}: ${r.allowed ? 'allowed' : 'limited'}`,
    );
  }
  if (d.gates?.breaker !== undefined) {
    const b = d.gates.breaker;
    gates.push(
      `breaker ${b.services}/${b.threshold} services in ${formatDuration(b.window_ms)}: ${b.open ? 'OPEN' : 'closed'}`,
    );
  }
  if (d.gates?.remediated !== undefined) gates.push(remediatedText(d.gates.remediated));
  lines.push(
    table([
      ['event', `${d.event_id} (${d.event_type}) ${d.service}/${d.host ?? '-'}`],
      ['decision', `${d.decision}${d.reason === undefined ? '' : `: ${d.reason} (${d.reason_text ?? ''})`}`],
      ...(d.duplicate_of === undefined ? [] : [['duplicate of', d.duplicate_of]]),
      ...(d.rule === undefined
        ? []
        : [['rule', `${d.rule.id} → workflow ${d.rule.workflow}, lock ${d.rule.lock}`]]),
      ['coordinator', `${d.coordinator.node} (${d.coordinator.zone})`],
      ['source', `shard ${d.source.shard} sequence ${d.source.sequence}${subText(d.source.sub_sequence)}`],
      ...(d.submitted_by === undefined ? [] : [['submitted', submittedText(d.submitted_by)]]),
      ['event time', `${d.event_time}${d.age_ms === undefined ? '' : ` (age ${d.age_ms}ms when read)`}`],
      ['arrived', d.arrived_at],
      [
        'decided',
        `${d.decided_at} (latency ${d.latency_ms}ms${d.vote_ms === undefined ? '' : `, vote ${d.vote_ms}ms`})`,
      ],
      ...(gates.length === 0 ? [] : [['gates', gates.join('; ')]]),
      ...(d.lock === undefined
        ? []
        : [
            [
              'lock',
              `${d.lock.resource} #${d.lock.token} ${d.lock.acquired ? 'acquired' : `held by ${d.lock.owner}`}`,
            ],
          ]),
      ...(d.error === undefined ? [] : [['error', d.error]]),
    ]),
  );
  const votes = [
    ...d.votes.map((v) => ({ ...v, late: false })),
    ...(d.late_votes ?? []).map((v) => ({ ...v, late: true })),
  ];
  if (votes.length > 0) {
    lines.push('', `votes (quorum ${d.quorum}):`);
    lines.push(
      table(
        [
          ['NODE', 'ZONE', 'VOTE', 'MS', 'CHECK', 'PASS', 'MEASURED', 'THRESHOLD', 'DETAIL'],
          ...votes.flatMap((v) => {
            const head = [
              v.node,
              v.zone,
              `${v.pass ? 'pass' : 'fail'}${v.late ? ' (late)' : ''}`,
              String(v.durationMs),
            ];
            if (v.checks.length === 0) return [[...head, '-', '', '', '', '']];
            return v.checks.map((c, i) => [
              ...(i === 0 ? head : ['', '', '', '']),
              c.name,
              c.pass ? 'pass' : 'fail',
              c.measured,
              c.threshold,
              c.detail,
            ]);
          }),
        ],
        '  ',
      ),
    );
  }
  const failures = [...d.failures, ...(d.late_failures ?? [])];
  if (failures.length > 0) {
    lines.push('', 'could not vote:');
    lines.push(table([['NODE', 'ERROR'], ...failures.map((f) => [f.node, f.error])], '  '));
  }
  if (run !== undefined) {
    lines.push(
      '',
      `run ${run.id} (${run.workflow}): ${run.status}, started ${run.started_at}` +
        `${run.finished_at === undefined ? '' : `, finished ${run.finished_at}`} on ${run.nodes.join(' → ')}`,
    );
    if (run.failure !== undefined)
      lines.push(`  failed at ${run.failure.step} (${run.failure.reason}): ${run.failure.message}`);
    const steps = Object.values(run.steps).sort(
      (a, b) =>
        (a.started_at ?? '\uffff').localeCompare(b.started_at ?? '\uffff') || a.id.localeCompare(b.id),
    );
    lines.push(
      table(
        [
          ['STEP', 'PHASE', 'STATUS', 'ATTEMPTS', 'STARTED', 'DURATION', 'ERROR'],
          ...steps.map((s) => [
            s.id,
            s.phase,
            s.status,
            String(s.attempts),
            s.started_at ?? '-',
            s.duration_ms === undefined ? '-' : `${s.duration_ms}ms`,
            s.error ?? '',
          ]),
        ],
        '  ',
      ),
    );
  }
  return lines.join('\n');
}

/** Who put the event on the stream, as the timeline says it; a shape this release does not know, as JSON. */
function submittedText(s: NonNullable<Decision['submitted_by']>): string {
  if (s.via === 'stream') return submitterText({ via: 'stream' });
  if (s.via === 'api' && typeof s.token === 'string' && typeof s.node === 'string')
    return submitterText({ via: 'api', token: s.token, node: s.node });
  return JSON.stringify(s);
}

/** A user record of a KPL aggregated record says which one it is. */
function subText(sub: number | undefined): string {
  return sub === undefined ? '' : ` user record ${sub} (KPL aggregate)`;
}

function rejectedText(r: Rejected): string {
  const raw = Buffer.from(r.raw, 'base64').toString('utf8');
  return [
    table([
      ['record', `shard ${r.shard} sequence ${r.sequence}${subText(r.sub_sequence)} (${r.size} bytes)`],
      ['rejected', `${r.at} by ${r.node}: ${r.code}`],
      ['why', r.message],
    ]),
    ...(r.errors.length === 0
      ? []
      : ['', table([['PATH', 'PROBLEM'], ...r.errors.map((e) => [e.path || '/', e.message])], '  ')]),
    '',
    `first bytes: ${JSON.stringify(raw.slice(0, 300))}${raw.length > 300 ? '…' : ''}`,
  ].join('\n');
}

/**
 * The timeline as a table, in the order the API sends it (the order things happened, as the node
 * tells the story), each time relative to the first entry: how long each stage took reads off the
 * column.
 */
export function timelineText(entries: readonly TimelineEntry[]): string {
  const first = entries[0];
  const t0 = first === undefined ? NaN : Date.parse(first.at);
  return [
    `timeline (+0 = ${first?.at ?? '?'}):`,
    table(
      [
        ['TIME', 'NODE', 'STAGE', 'OK', 'TITLE'],
        ...entries.map((e) => {
          const ms = Date.parse(e.at) - t0;
          return [
            Number.isNaN(ms) ? '?' : since(ms),
            e.node === undefined || e.node === '' ? '-' : e.node,
            e.stage,
            e.ok === undefined ? '' : e.ok ? 'ok' : 'FAIL',
            e.title,
          ];
        }),
      ],
      '  ',
    ),
  ].join('\n');
}

/** `+0ms`, `+840ms`, `+2.315s`, `+12m30s`, `-5ms`: millisecond detail where it matters, not in a long run. */
function since(ms: number): string {
  const sign = ms < 0 ? '-' : '+';
  const abs = Math.abs(ms);
  if (abs < 1000) return `${sign}${abs}ms`;
  if (abs < 60_000) return `${sign}${(abs / 1000).toFixed(3)}s`;
  return `${sign}${formatDuration(Math.round(abs / 1000) * 1000)}`;
}
