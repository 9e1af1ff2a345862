/**
 * A whole local region on one machine: kinesis-local, a private redis-server (or `REDIS_URL`), the
 * fleet simulator and the controller nodes as separate OS processes, with a generated region
 * configuration that points them at each other on free loopback ports. `npm start` runs it; the
 * integration tests and the benchmark stand on it too.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { writeRegionCertificates } from '../cluster/certs.js';
import { createWriteStream } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import YAML from 'yaml';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { PeerIdentity } from '../cluster/tls.js';
import { httpGet } from '../common/http-get.js';
import { packageRoot } from '../common/package-root.js';
import { ensureStream, kinesisClient } from '../ingest/kinesis-client.js';
import { FleetSimulator } from './fleet.js';
import type { FleetSpec } from './fleet.js';
import { startKinesisLocal } from './kinesis-local.js';
import type { KinesisLocalProcess } from './kinesis-local.js';
import { killOnExit } from './orphans.js';
import { freePort } from './ports.js';
import { startRedis } from './redis-server.js';
import { PAGERDUTY_REQUESTS_PER_MINUTE } from '../pager/request-budget.js';
import { DEFAULT_SIM_TOKEN, PagerDutySimulator } from './pagerduty.js';
import type { PagerDutySimulatorOptions } from './pagerduty.js';
import type { RedisProcess } from './redis-server.js';

export interface LocalStackOptions {
  /** The region configuration to start from. @defaultValue the shipped `deploy/local` */
  readonly configDir?: string;
  /** Where the generated configuration and the logs go. @defaultValue a new temporary directory */
  readonly workDir?: string;
  /** Use this Redis instead of starting one. @defaultValue `$REDIS_URL`, else a private redis-server */
  readonly redisUrl?: string;
  /**
   * The region's `redis` section for a Redis the caller runs (`{ mode: 'cluster', nodes: [...] }`,
   * `{ mode: 'sentinel', sentinels: [...], master }`): no Redis is started, and `redisUrl` is ''.
   */
  readonly redisTopology?: Record<string, unknown>;
  readonly shards?: number;
  /** Changes to the region file, e.g. `{ thresholds: { vote_timeout: '2s' } }` (merged). */
  readonly region?: Record<string, unknown>;
  readonly fleet?: FleetSpec;
  /** A services file (YAML text) to use instead of the configuration's own. */
  readonly services?: string;
  /** Which nodes to start now. @defaultValue every node of the configuration */
  readonly nodes?: readonly string[];
  /** Called with every log line of every node (JSON text). */
  readonly onLog?: (node: string, line: string) => void;
  /** The REST API's bearer token for writes. @defaultValue `$LAZARUS_API_TOKEN`, else `local-dev-token` */
  readonly apiToken?: string;
  /** Options of the PagerDuty simulator the nodes page through. */
  readonly pagerduty?: PagerDutySimulatorOptions;
  /**
   * The REST API over HTTPS (`api.tls`), each node with a certificate of the region's CA in
   * `certs/api/` (it names the node's id and 127.0.0.1); clients trust `apiCa`. Needs the stack's
   * own peer certificates (no `peers` in `region`). @defaultValue false: plain HTTP, as `npm start`
   */
  readonly apiTls?: boolean;
  /** More environment for the node processes (the variables of `api.tokens`, say). */
  readonly env?: Readonly<Record<string, string>>;
  /** Node.js flags for the node processes (`--cpu-prof`, which NODE_OPTIONS does not take). */
  readonly nodeFlags?: readonly string[];
  /**
   * The loopback address the nodes' gRPC and API ports are on (and are reached at): `::1` makes
   * an IPv6 region, nodes at `[::1]:port`. @defaultValue `127.0.0.1`
   */
  readonly loopback?: '127.0.0.1' | '::1';
}

export interface NodeProcess {
  readonly id: string;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
}

export class LocalStack {
  readonly nodes = new Map<string, NodeProcess>();
  private logs = new Map<string, WriteStream>();
  private stopped = false;

  private constructor(
    readonly workDir: string,
    /** The generated region directory (`--config` for nodes and `lazarus submit`). */
    readonly configDir: string,
    readonly region: {
      readonly stream: string;
      readonly keyPrefix: string;
      readonly nodes: readonly { id: string; grpc: string; api: string; zone: string }[];
    },
    readonly kinesisEndpoint: string,
    readonly redisUrl: string,
    readonly fleet: FleetSimulator,
    readonly kinesis: KinesisClient,
    private readonly redisProcess: RedisProcess | undefined,
    private readonly kinesisProcess: KinesisLocalProcess,
    private readonly onLog: ((node: string, line: string) => void) | undefined,
    /** The PagerDuty the nodes page through (the sensors' pages are created in it). */
    readonly pagerduty: PagerDutySimulator,
    /** The REST API's bearer token for writes. */
    readonly apiToken: string,
    /** With `apiTls`: the CA file the API's certificates chain to (what clients trust). */
    readonly apiCa: string | undefined,
    private readonly env: Readonly<Record<string, string>>,
    private readonly nodeFlags: readonly string[],
  ) {}

  /** `http://host:port` of node `id`'s REST API (`https://` with `apiTls`). */
  apiUrl(id: string): string {
    const node = this.region.nodes.find((n) => n.id === id);
    if (node === undefined) throw new Error(`node ${id} is not in the region`);
    return `${this.apiCa === undefined ? 'http' : 'https'}://${node.api}`;
  }

  static async start(options: LocalStackOptions = {}): Promise<LocalStack> {
    const source = resolve(options.configDir ?? join(packageRoot(), 'deploy', 'local'));
    const workDir = options.workDir ?? (await mkdtemp(join(tmpdir(), 'lazarus-local-')));
    await mkdir(join(workDir, 'config'), { recursive: true });
    await mkdir(join(workDir, 'logs'), { recursive: true });

    const started: { stop(): Promise<unknown> }[] = [];
    try {
      const topology = options.redisTopology;
      const redisUrl = topology === undefined ? (options.redisUrl ?? process.env['REDIS_URL']) : '';
      const redisProcess = redisUrl === undefined ? await startRedis() : undefined;
      if (redisProcess !== undefined) started.push(redisProcess);
      const kinesisProcess = await startKinesisLocal();
      started.push(kinesisProcess);
      const fleet = await FleetSimulator.start(options.fleet === undefined ? {} : { spec: options.fleet });
      started.push({ stop: () => fleet.close() });
      const apiToken = options.apiToken ?? process.env['LAZARUS_API_TOKEN'] ?? 'local-dev-token';

      const doc = YAML.parseDocument(await readFile(join(source, 'region.yaml'), 'utf8'));
      const raw = doc.toJS() as Record<string, unknown> & {
        paths?: Record<string, string>;
        nodes: { id: string; zone: string }[];
        kinesis: Record<string, unknown>;
        redis: Record<string, unknown>;
        region: string;
      };
      // The controller's PagerDuty user is the first level of the simulated escalation policy.
      const responder = (raw['pagerduty'] as { from?: string } | undefined)?.from ?? 'lazarus@local.invalid';
      const pagerduty = await PagerDutySimulator.start({
        policy: [responder, 'oncall-2@example.com', 'oncall-3@example.com'],
        ...(options.pagerduty ?? {}),
      });
      started.push({ stop: () => pagerduty.close() });
      const runId = Math.random().toString(36).slice(2, 8);
      const stream = `${String(raw.kinesis['stream'])}-${runId}`;
      const keyPrefix = `lz:${raw.region}:${runId}:`;
      const nodes = [];
      const host = options.loopback === '::1' ? '[::1]' : '127.0.0.1';
      for (const node of raw.nodes) {
        nodes.push({
          ...node,
          grpc: `${host}:${await freePort(options.loopback === undefined ? {} : { host: options.loopback })}`,
          api: `${host}:${await freePort(options.loopback === undefined ? {} : { host: options.loopback })}`,
        });
      }
      const paths = raw.paths ?? {};
      const region = deepMerge(
        {
          ...raw,
          paths: Object.fromEntries(
            ['rules', 'profiles', 'workflows', 'services'].map((k) => [
              k,
              resolve(source, paths[k] ?? (k === 'services' ? 'services.yaml' : k)),
            ]),
          ),
          nodes,
          kinesis: {
            ...raw.kinesis,
            stream,
            endpoint: kinesisProcess.endpoint,
            ...(options.shards === undefined ? {} : { shards: options.shards }),
          },
          redis:
            topology === undefined
              ? { ...raw.redis, url: redisUrl ?? redisProcess?.url ?? '', key_prefix: keyPrefix }
              : { ...topology, key_prefix: keyPrefix },
          inventory: { type: 'http', url: `${fleet.url}/v1/inventory`, refresh: '1s' },
          orchestrator: { url: fleet.url },
          pagerduty: {
            ...(raw['pagerduty'] ?? {
              from: 'lazarus@local.invalid',
            }),
            url: pagerduty.url,
            token_env: 'LAZARUS_LOCAL_PAGERDUTY_TOKEN',
            // The region spends what the simulator allows its user; a simulator without a limit (a
            // benchmark of the controller itself) gets a budget that never binds.
            requests_per_minute:
              options.pagerduty?.requestsPerMinute === 0
                ? 1_000_000
                : (options.pagerduty?.requestsPerMinute ?? PAGERDUTY_REQUESTS_PER_MINUTE),
          },
          api: {
            ...(raw['api'] ?? {}),
            token_env: 'LAZARUS_LOCAL_API_TOKEN',
          },
        },
        options.region ?? {},
      );
      const configDir = join(workDir, 'config');
      // The production path: mutual TLS between the nodes, with certificates made for this region
      // (unless the caller configured the peers itself).
      if ((options.region as { peers?: unknown } | undefined)?.peers === undefined) {
        const certs = join(configDir, 'certs');
        // The CA's key stays beside the configuration, not with the nodes' files (an older run's
        // copy there goes).
        await rm(join(certs, 'ca-key.pem'), { force: true });
        await writeRegionCertificates(certs, String(raw.region), nodes, { caDir: join(workDir, 'ca') });
        region['peers'] = {
          tls: {
            ca: join(certs, 'ca.pem'),
            cert: join(certs, '{node}.pem'),
            key: join(certs, '{node}-key.pem'),
          },
        };
      }
      let apiCa: string | undefined;
      if (options.apiTls === true) {
        if ((options.region as { peers?: unknown } | undefined)?.peers !== undefined)
          throw new Error('apiTls needs the stack to make the certificates: no peers in options.region');
        // The region's CA (kept in the work dir) signs them; a copy of its certificate comes along.
        const apiCerts = join(configDir, 'certs', 'api');
        await writeRegionCertificates(apiCerts, String(raw.region), nodes, { caDir: join(workDir, 'ca') });
        apiCa = join(apiCerts, 'ca.pem');
        region['api'] = {
          ...(region['api'] as Record<string, unknown>),
          tls: { cert: join(apiCerts, '{node}.pem'), key: join(apiCerts, '{node}-key.pem') },
        };
      }
      if (options.services !== undefined) {
        await writeFile(join(configDir, 'services.yaml'), options.services);
        (region['paths'] as Record<string, string>)['services'] = join(configDir, 'services.yaml');
      }
      await writeFile(
        join(configDir, 'region.yaml'),
        `# Generated by the local stack from ${source}\n` + YAML.stringify(region),
      );

      const kinesis = kinesisClient({
        endpoint: kinesisProcess.endpoint,
        region: typeof raw.kinesis['region'] === 'string' ? raw.kinesis['region'] : 'us-east-1',
      });
      await ensureStream(
        kinesis,
        stream,
        Number((region['kinesis'] as Record<string, unknown>)['shards'] ?? 4),
      );

      const stack = new LocalStack(
        workDir,
        configDir,
        { stream, keyPrefix, nodes },
        kinesisProcess.endpoint,
        redisUrl ?? redisProcess?.url ?? '',
        fleet,
        kinesis,
        redisProcess,
        kinesisProcess,
        options.onLog,
        pagerduty,
        apiToken,
        apiCa,
        options.env ?? {},
        options.nodeFlags ?? [],
      );
      try {
        const ids = options.nodes ?? nodes.map((n) => n.id);
        await Promise.all(ids.map((id) => stack.startNode(id)));
        // Each node started while the others may not have listened yet: until every node sees
        // every peer it started with as running, a first event's vote could fail on a connection
        // backing off. Best effort (a test may start a region whose peers refuse each other).
        await Promise.all(ids.map((id) => stack.#peersSeen(id, ids, 10_000)));
      } catch (error) {
        // Nodes that did start must not outlive a stack that failed to start.
        await stack.stop();
        throw error;
      }
      return stack;
    } catch (error) {
      for (const part of started.reverse()) await part.stop().catch(() => undefined);
      throw error;
    }
  }

  /**
   * The processes of the region and their pids: each node's, Redis' (when the stack started it)
   * and kinesis-local's, for a benchmark's CPU and memory figures (`/proc/<pid>/stat`).
   */
  processes(): { readonly name: string; readonly pid: number }[] {
    const out: { name: string; pid: number }[] = [];
    for (const [id, node] of this.nodes)
      if (node.child.pid !== undefined) out.push({ name: `node ${id}`, pid: node.child.pid });
    if (this.redisProcess !== undefined) out.push({ name: 'redis-server', pid: this.redisProcess.pid });
    out.push({ name: 'kinesis-local', pid: this.kinesisProcess.pid });
    return out;
  }

  /** Until node `id`'s /readyz says each of `ids` (but itself) answers Ping as running, or `waitMs`. */
  async #peersSeen(id: string, ids: readonly string[], waitMs: number): Promise<void> {
    const url = `${this.apiUrl(id)}/readyz`;
    const ca = this.apiCa === undefined ? undefined : await readFile(this.apiCa);
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      const peers = await httpGet(url, { timeoutMs: 2000, ...(ca === undefined ? {} : { ca }) }).then(
        (r) => (JSON.parse(r.text) as { quorum?: { peers?: Record<string, string> } }).quorum?.peers,
        () => undefined,
      );
      if (peers !== undefined && ids.every((n) => n === id || peers[n] === 'running')) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Starts node `id` as its own process; resolves once it is running. */
  async startNode(id: string): Promise<NodeProcess> {
    const { command, args } = cliCommand();
    const child = spawn(
      command,
      [...this.nodeFlags, ...args, 'node', '--config', this.configDir, '--node', id],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          ...this.env,
          LAZARUS_LOG_LEVEL: process.env['LAZARUS_LOG_LEVEL'] ?? 'info',
          LAZARUS_LOCAL_API_TOKEN: this.apiToken,
          LAZARUS_LOCAL_PAGERDUTY_TOKEN: DEFAULT_SIM_TOKEN,
        },
      },
    );
    const log = createWriteStream(join(this.workDir, 'logs', `node-${id}.log`), { flags: 'a' });
    this.logs.set(id, log);
    killOnExit(child);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    // Known at once, so that stop() ends it even if it never becomes ready.
    const node = { id, child, exited };
    this.nodes.set(id, node);
    for (const stream of [child.stdout, child.stderr]) {
      if (stream === null) continue;
      createInterface({ input: stream }).on('line', (line) => {
        log.write(line + '\n');
        this.onLog?.(id, line);
      });
    }
    // Ready when the node's /readyz says it is running and its Redis answers (whatever its log
    // level). Not the peer protocol: that serves only the region's nodes, over mutual TLS.
    const url = `${this.apiUrl(id)}/readyz`;
    const ca = this.apiCa === undefined ? undefined : await readFile(this.apiCa);
    let exitCode: number | null | undefined;
    void exited.then((code) => (exitCode = code));
    {
      const deadline = Date.now() + 30_000;
      for (;;) {
        if (exitCode !== undefined)
          throw new Error(
            `node ${id} exited with ${String(exitCode)} while starting; see ${join(this.workDir, 'logs', `node-${id}.log`)}`,
          );
        if (Date.now() > deadline)
          throw new Error(
            `node ${id} did not start within 30 s; see ${join(this.workDir, 'logs', `node-${id}.log`)}`,
          );
        const ready = await httpGet(url, { timeoutMs: 1000, ...(ca === undefined ? {} : { ca }) }).then(
          (r) => r.status === 200,
          () => false,
        );
        if (ready) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return node;
  }

  /**
   * The TLS identity of one of the region's nodes (its certificate and key as the stack wrote them):
   * for a tool or test that talks to the nodes' peer protocol as that node. `undefined` when the
   * region's peers are configured otherwise.
   */
  async identityOf(nodeId: string): Promise<PeerIdentity | undefined> {
    const certs = join(this.configDir, 'certs');
    const ca = join(certs, 'ca.pem');
    // No certificates: the region was configured without them. Anything else wrong is said.
    if (
      !(await access(ca).then(
        () => true,
        () => false,
      ))
    )
      return undefined;
    return PeerIdentity.load(
      nodeId,
      { ca, cert: join(certs, `${nodeId}.pem`), key: join(certs, `${nodeId}-key.pem`) },
      this.region.nodes.map((n) => n.id),
    );
  }

  /** Sends a signal to a node (SIGKILL for a crash, SIGTERM for a clean stop) and waits for its exit. */
  async killNode(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`node ${id} is not running`);
    node.child.kill(signal);
    const code = await node.exited;
    this.nodes.delete(id);
    return code;
  }

  /** Stops every process it started (nodes first, with SIGTERM), and closes the logs. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(
      [...this.nodes.values()].map(async (node) => {
        node.child.kill('SIGTERM');
        const timer = setTimeout(() => node.child.kill('SIGKILL'), 10_000);
        await node.exited;
        clearTimeout(timer);
      }),
    );
    this.nodes.clear();
    this.kinesis.destroy();
    await this.fleet.close();
    await this.pagerduty.close();
    await this.kinesisProcess.stop();
    await this.redisProcess?.stop();
    for (const log of this.logs.values()) log.end();
  }

  /** Freezes the private redis-server (SIGSTOP): it holds its data but answers nothing. */
  freezeRedis(): void {
    if (this.redisProcess === undefined)
      throw new Error('Redis is external (REDIS_URL): it cannot be frozen from here');
    this.redisProcess.kill('SIGSTOP');
  }

  thawRedis(): void {
    this.redisProcess?.kill('SIGCONT');
  }

  /** Removes the work directory (configuration and logs). */
  async remove(): Promise<void> {
    await rm(this.workDir, { recursive: true, force: true });
  }
}

/** How to run the `lazarus` command in a child process: the compiled one, or the sources through tsx. */
export function cliCommand(): { command: string; args: string[] } {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts'))
    return {
      command: process.execPath,
      args: ['--import', 'tsx', join(dirname(here), '..', 'cli', 'main.ts')],
    };
  return { command: process.execPath, args: [join(dirname(here), '..', 'cli', 'main.js')] };
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      typeof v === 'object' &&
      v !== null &&
      !Array.isArray(v) &&
      typeof b === 'object' &&
      b !== null &&
      !Array.isArray(b)
        ? deepMerge(b as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}
