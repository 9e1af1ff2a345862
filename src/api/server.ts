/**
 * The REST API of one node (every node serves the same one; any node answers for the region, since
 * everything it shows is read from Redis):
 *
 * | route                   | what                                                                       |
 * | ----------------------- | -------------------------------------------------------------------------- |
 * | `GET /v1/events`        | events, newest first: `service host status reason since until limit cursor` |
 * | `GET /v1/events/{id}`   | an event's trace: `{decision, run, audit, timeline}`; `{rejected}` for a rejected id |
 * | `POST /v1/events`       | validates an event and puts it on the region's stream: 202 `{id}`          |
 * | `GET /v1/rejected`      | records that were not events, as stored (raw bytes, errors): `limit cursor` |
 * | `GET /v1/services`      | subscribed services: profile, mode, rules, rate-limit count now            |
 * | `GET /v1/cluster`       | nodes (state, zone, shards, last heartbeat), shards, breaker, quorum       |
 * | `GET /healthz`          | the process answers                                                        |
 * | `GET /readyz`           | running, Redis answers PING, the stream answers (else 503); whether quorum is possible |
 * | `GET /metrics`          | Prometheus text format                                                     |
 * | `GET /…`                | the web console's files                                                    |
 *
 * Writes need `Authorization: Bearer <token>`; reads (the `/v1` GETs and `/metrics`) need it too when
 * `protectReads` is set. `/healthz`, `/readyz` and the console's files are always open: probes and
 * a browser loading the page carry no token. Errors are `{"error": {"code", "message"}}` with the
 * codes of `errors.ts`.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { RedisClient } from '../common/redis.js';
import type { Logger } from 'pino';
import { mappingsFrom } from '../sensors/mapping.js';
import type { SensorMappings } from '../sensors/types.js';
import { isSensorName, SENSOR_BODY_MAX_BYTES, sensorPut } from './sensor-route.js';
import { AuditReader } from '../audit/reader.js';
import type { AuditReaderOptions } from '../audit/reader.js';
import { AuditErrorCodes } from '../audit/cursor.js';
import { LzError } from '../common/errors.js';
import { EventErrorCodes } from '../events/errors.js';
import type { RedisKeys } from '../common/keys.js';
import type { CompiledConfig } from '../config/types.js';
import type { ServedCertificate } from './certificate.js';
import { ApiError, ApiErrorCodes, badRequest, notFound, unavailable } from './errors.js';
import { hasBearer, parseHostPort, readBody, sendBytes, sendError, sendJson } from './http.js';
import type { Metrics } from '../metrics/metrics.js';
import { parseEventQuery, parseRejectedQuery } from './query.js';
import { StaticFiles, defaultConsoleDir } from './static-files.js';
import { stampEvent } from './submission.js';
import { clusterView, servicesView } from './views.js';

export interface ApiServerOptions {
  /** `host:port` to listen on, as the node's `api` address in the region config; port 0: any free port. */
  readonly listen: string;
  /**
   * Serve HTTPS with this certificate and key (`api.tls`); `useCertificate` replaces them for new
   * connections. @defaultValue plain HTTP
   */
  readonly tls?: ServedCertificate;
  readonly redis: RedisClient;
  readonly keys: RedisKeys;
  readonly config: CompiledConfig;
  readonly metrics: Metrics;
  /**
   * Puts a validated event's bytes on the region's stream (Kinesis PutRecord) with the partition key
   * `service/host`; rejects when the stream cannot be reached (the client gets a 503).
   */
  readonly put: (data: Uint8Array, partitionKey: string) => Promise<unknown>;
  /** The node's lifecycle state; `/readyz` is ready only while it is `running`. */
  readonly state: () => string;
  /**
   * The stream's shard ids, for `/v1/cluster`.
   * @defaultValue the shards that have a lease key in Redis (found with SCAN)
   */
  readonly shards?: () => readonly string[] | Promise<readonly string[]>;
  /**
   * The one bearer token of every role (`api.token_env`); with `tokens`, one more token among them.
   * Neither: every write is refused.
   */
  readonly token?: string;
  /** Named tokens, each with its roles (`api.tokens`). */
  readonly tokens?: readonly ApiToken[];
  /** Reads need the token too. @defaultValue false */
  readonly protectReads?: boolean;
  /**
   * Id of the node serving the API: `self` in `/v1/cluster`, and the node in the `submitted_by`
   * stamp of the events it puts on the stream.
   */
  readonly nodeId: string;
  /** The web console's directory. @defaultValue `src/api/console` of the package */
  readonly consoleDir?: string;
  /** Largest body of `POST /v1/events`. @defaultValue the region's `events.max_bytes` */
  readonly maxBodyBytes?: number;
  /** How long `/readyz` waits for each of its checks (PING, the stream, the peers). @defaultValue 1000 */
  readonly pingTimeoutMs?: number;
  /**
   * `/readyz`'s look at the stream: resolves when Kinesis answers for the region's stream (a
   * ListShards of one shard), rejects with why not. @defaultValue not checked
   */
  readonly streamCheck?: () => Promise<unknown>;
  /**
   * `/readyz`'s look at the other nodes: each peer's answer to Ping (its state) or why it gave none.
   * With `quorum`, the answer says whether a quorum is possible now. @defaultValue not checked
   */
  readonly peerCheck?: () => Promise<readonly PeerReadiness[]>;
  /** Passing votes an event needs (`quorum`). @defaultValue the region's */
  readonly quorum?: number;
  readonly reader?: AuditReaderOptions;
  readonly log?: Logger;
  /** The clock, for tests. @defaultValue Date.now */
  readonly now?: () => number;
}

/** One peer as `/readyz` saw it: the state it answered Ping with, or the reason it did not. */
export interface PeerReadiness {
  readonly node: string;
  readonly state?: string;
  readonly error?: string;
}

/** One request as a route handler sees it: `params` are the route pattern's groups. */
interface Call {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  readonly params: readonly string[];
  /** The name of the token the request came with (absent where none is needed). */
  readonly token?: string;
}

type Handler = (call: Call) => Promise<void>;

interface Route {
  readonly name: string;
  readonly pattern: RegExp;
  readonly methods: Readonly<Partial<Record<'GET' | 'POST', Handler>>>;
  /** `read`: needs a read token when reads are protected; `submit`: always a submit token; `open`: never. */
  readonly access: Readonly<Partial<Record<'GET' | 'POST', Access>>>;
}

/** What a token may do: `read` the trail, `submit` events, `operate` (actions that change things). */
export type ApiRole = 'read' | 'submit' | 'operate';

export interface ApiToken {
  /** Its name, as the log says who submitted an event. */
  readonly name: string;
  readonly token: string;
  readonly roles: readonly ApiRole[];
}

type Access = 'open' | ApiRole;

export class ApiServer {
  private readonly reader: AuditReader;
  private readonly files: StaticFiles;
  private readonly routes: readonly Route[];
  private readonly now: () => number;
  private readonly maxBodyBytes: number;
  private readonly sensorMappings: SensorMappings;
  private readonly serviceNames: ReadonlySet<string>;
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly o: ApiServerOptions,
    private readonly server: Server | HttpsServer,
  ) {
    this.reader = new AuditReader(o.redis, o.keys, o.reader);
    this.files = new StaticFiles(o.consoleDir ?? defaultConsoleDir());
    this.now = o.now ?? Date.now;
    this.maxBodyBytes = o.maxBodyBytes ?? o.config.region.events.maxBytes;
    this.sensorMappings = mappingsFrom(o.config.region.sensors);
    this.serviceNames = new Set(o.config.services.keys());
    this.routes = [
      {
        name: '/v1/events',
        pattern: /^\/v1\/events$/,
        methods: { GET: (c) => this.listEvents(c), POST: (c) => this.postEvent(c) },
        access: { GET: 'read', POST: 'submit' },
      },
      {
        name: '/v1/events/{id}',
        pattern: /^\/v1\/events\/([^/]+)$/,
        methods: { GET: (c) => this.getEvent(c) },
        access: { GET: 'read' },
      },
      {
        name: '/v1/rejected',
        pattern: /^\/v1\/rejected$/,
        methods: { GET: (c) => this.listRejected(c) },
        access: { GET: 'read' },
      },
      {
        name: '/v1/sensors/{sensor}',
        pattern: /^\/v1\/sensors\/([^/]+)$/,
        methods: { POST: (c) => this.postSensor(c) },
        access: { POST: 'submit' },
      },
      {
        name: '/v1/services',
        pattern: /^\/v1\/services$/,
        methods: { GET: (c) => this.services(c) },
        access: { GET: 'read' },
      },
      {
        name: '/v1/cluster',
        pattern: /^\/v1\/cluster$/,
        methods: { GET: (c) => this.cluster(c) },
        access: { GET: 'read' },
      },
      {
        name: '/healthz',
        pattern: /^\/healthz$/,
        methods: { GET: ({ res }) => Promise.resolve(sendJson(res, 200, { status: 'ok' })) },
        access: { GET: 'open' },
      },
      {
        name: '/readyz',
        pattern: /^\/readyz$/,
        methods: { GET: (c) => this.ready(c) },
        access: { GET: 'open' },
      },
      {
        name: '/metrics',
        pattern: /^\/metrics$/,
        methods: { GET: (c) => this.metricsText(c) },
        access: { GET: 'read' },
      },
    ];
  }

  /** Starts listening; resolves once the port is bound. */
  static async start(options: ApiServerOptions): Promise<ApiServer> {
    const { host, port } = parseHostPort(options.listen);
    // With TLS, a client that speaks plain HTTP to the port gets no answer: its connection is closed
    // in the handshake (nothing is ever served without TLS on a port configured for it).
    const server =
      options.tls === undefined
        ? createServer()
        : createHttpsServer({ cert: options.tls.cert, key: options.tls.key });
    // A slow client may not hold a connection (and its buffers) for long.
    server.requestTimeout = 30_000;
    server.headersTimeout = 10_000;
    const api = new ApiServer(options, server);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      void api.handle(req, res);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    options.log?.info(
      { api: `${host}:${api.port}`, tls: options.tls !== undefined },
      `REST API listening (${options.tls === undefined ? 'HTTP' : 'HTTPS'})`,
    );
    return api;
  }

  /**
   * Serves another certificate from now on (a rotation): new connections get it, open ones keep
   * theirs. Only for a server started with `tls`.
   */
  useCertificate(pem: ServedCertificate): void {
    if (!('setSecureContext' in this.server))
      throw new Error('this API serves plain HTTP (no api.tls): it has no certificate to replace');
    this.server.setSecureContext({ cert: pem.cert, key: pem.key });
  }

  /** The bound port (the real one when started on port 0). */
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** `http://host:port` of the API (`https://` with TLS). */
  get url(): string {
    const { address, family } = this.server.address() as AddressInfo;
    const scheme = this.o.tls === undefined ? 'http' : 'https';
    return `${scheme}://${family === 'IPv6' ? `[${address}]` : address}:${this.port}`;
  }

  /** Stops taking connections and closes the open ones; safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      // Keep-alive connections would hold close() open until they time out.
      this.server.closeAllConnections();
    });
    return this.stopping;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    let routeName = 'static';
    try {
      const url = new URL(req.url ?? '/', 'http://api.invalid');
      const route = this.routes.find((r) => r.pattern.test(url.pathname));
      if (route === undefined) {
        if (url.pathname.startsWith('/v1/') || url.pathname === '/v1') {
          routeName = 'unknown';
          throw notFound(`no route ${url.pathname}; see the README's REST reference`);
        }
        await this.serveFile(method, url, res);
        return;
      }
      routeName = route.name;
      const handler = method === 'GET' || method === 'POST' ? route.methods[method] : undefined;
      if (handler === undefined) {
        const allow = Object.keys(route.methods).flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m]));
        throw new ApiError(ApiErrorCodes.METHOD_NOT_ALLOWED, `${route.name} answers ${allow.join(', ')}`, {
          extra: { allow },
        });
      }
      const token = this.authorize(req, route.access[method as 'GET' | 'POST'] ?? 'submit');
      const params = (route.pattern.exec(url.pathname) ?? []).slice(1);
      await handler({ req, res, url, params, ...(token === undefined ? {} : { token }) });
    } catch (error) {
      this.fail(req, res, error);
    } finally {
      this.o.metrics.apiRequest(method, routeName, res.statusCode);
    }
  }

  /**
   * The token a request needs for `access`: 401 without a valid one, 403 with a valid one that lacks
   * the role. Every configured token is compared, each in constant time. Resolves with the token's
   * name (`undefined` for what is open).
   */
  private authorize(req: IncomingMessage, access: Access): string | undefined {
    if (access === 'open' || (access === 'read' && this.o.protectReads !== true)) return undefined;
    const tokens = this.tokens;
    if (tokens.length === 0) {
      throw new ApiError(
        ApiErrorCodes.UNAUTHORIZED,
        access === 'read'
          ? 'reads need a token, and this node has none configured'
          : 'writes are turned off: this node has no API token configured',
      );
    }
    let found: ApiToken | undefined;
    for (const candidate of tokens)
      if (hasBearer(req, candidate.token) && found === undefined) found = candidate;
    if (found === undefined)
      throw new ApiError(
        ApiErrorCodes.UNAUTHORIZED,
        'missing or wrong bearer token (Authorization: Bearer …)',
      );
    if (!found.roles.includes(access))
      throw new ApiError(
        ApiErrorCodes.FORBIDDEN,
        `token ${found.name} may ${found.roles.join(', ') || 'do nothing'}; this needs the ${access} role`,
      );
    return found.name;
  }

  /** Every token this node accepts, the legacy one first. */
  private get tokens(): readonly ApiToken[] {
    const legacy =
      this.o.token === undefined || this.o.token === ''
        ? []
        : [{ name: 'default', token: this.o.token, roles: ['read', 'submit', 'operate'] as const }];
    return [...legacy, ...(this.o.tokens ?? []).filter((t) => t.token !== '')];
  }

  private fail(req: IncomingMessage, res: ServerResponse, error: unknown): void {
    let apiError: ApiError;
    if (error instanceof ApiError) apiError = error;
    else if (error instanceof LzError && error.code === AuditErrorCodes.BAD_CURSOR)
      apiError = badRequest(error.message, [{ path: 'cursor', message: error.message }]);
    else {
      this.o.log?.error({ err: error, method: req.method, url: req.url }, 'API request failed');
      apiError = new ApiError(ApiErrorCodes.INTERNAL, 'the request could not be answered; see the node log');
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const headers: Record<string, string> = {};
    if (apiError.code === ApiErrorCodes.UNAUTHORIZED) headers['WWW-Authenticate'] = 'Bearer realm="lazarus"';
    if (apiError.code === ApiErrorCodes.METHOD_NOT_ALLOWED) {
      const allow = apiError.extra['allow'];
      if (Array.isArray(allow)) headers['Allow'] = allow.join(', ');
    }
    // The rest of an oversized body is not read: the connection is not reused.
    if (apiError.code === ApiErrorCodes.TOO_LARGE) headers['Connection'] = 'close';
    sendError(res, apiError, headers);
  }

  /** Runs a read of Redis; a Redis failure is a 503 (another node, or a retry, may answer). */
  private async viaRedis<T>(op: string, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      if (error instanceof LzError) throw error;
      this.o.metrics.redisError(`api_${op}`);
      throw unavailable(
        `Redis could not be read (${error instanceof Error ? error.message : String(error)})`,
        error,
      );
    }
  }

  // -------------------------------------------------------------------------------------------
  // Routes

  private async listEvents({ res, url }: Call): Promise<void> {
    const filters = parseEventQuery(url.searchParams);
    const page = await this.viaRedis('events', () => this.reader.list(filters));
    sendJson(res, 200, page);
  }

  private async getEvent({ res, params: [encoded] }: Call): Promise<void> {
    let id: string;
    try {
      id = decodeURIComponent(encoded ?? '');
    } catch {
      throw badRequest('the event id is not valid percent-encoding', [{ path: 'id', message: 'malformed' }]);
    }
    if (id.startsWith('rejected:')) {
      const rejected = await this.viaRedis('rejected', () => this.reader.findRejected(id));
      if (rejected === undefined) throw notFound(`no rejected record ${id} among the recent ones`);
      sendJson(res, 200, { rejected });
      return;
    }
    const trace = await this.viaRedis('trace', () => this.reader.trace(id));
    if (trace === undefined)
      throw notFound(`no decision for event ${id} (unknown, not decided yet, or expired)`);
    sendJson(res, 200, {
      decision: trace.decision,
      run: trace.run ?? null,
      audit: trace.audit,
      timeline: trace.timeline,
    });
  }

  private async listRejected({ res, url }: Call): Promise<void> {
    const query = parseRejectedQuery(url.searchParams);
    sendJson(res, 200, await this.viaRedis('rejected', () => this.reader.rejected(query)));
  }

  private async postEvent({ req, res, token }: Call): Promise<void> {
    const body = await readBody(req, this.maxBodyBytes);
    // Writes always need a token (authorize), so the route never runs without one.
    if (token === undefined) throw new Error('POST /v1/events reached without a token');
    // Who submitted it goes with the event (the audit trail shows it), always in the API's own
    // words: whatever the client sent as submitted_by is replaced. A record put on the stream
    // directly carries what its producer wrote (the stream's writers are trusted by IAM): see
    // SubmittedBy in events/schema.ts.
    const stamp = { via: 'api', token, node: this.o.nodeId } as const;
    const parsed = stampEvent(body, stamp, this.maxBodyBytes);
    if (!parsed.ok) {
      const { rejection } = parsed;
      throw new ApiError(
        rejection.code === EventErrorCodes.TOO_LARGE ? ApiErrorCodes.TOO_LARGE : ApiErrorCodes.BAD_REQUEST,
        rejection.message,
        { errors: rejection.errors, extra: { event_code: rejection.code } },
      );
    }
    const { event } = parsed;
    if (parsed.replaced !== undefined)
      this.o.log?.warn(
        { event: event.id, token, claimed: parsed.replaced },
        `POST /v1/events: the event's submitted_by was replaced by the API's (token ${token}): only the API writes it`,
      );
    // As `lazarus submit` and the sensors do: events about one host stay in order on one shard.
    const key = `${event.service}/${event.host ?? event.resource ?? ''}`;
    try {
      await this.o.put(parsed.bytes, key);
    } catch (error) {
      this.o.log?.warn({ err: error, event: event.id }, 'POST /v1/events: the stream could not be written');
      throw unavailable(
        `the event could not be put on the stream (${error instanceof Error ? error.message : String(error)})`,
        error,
      );
    }
    this.o.log?.info({ event: event.id, token }, `event submitted with token ${token}`);
    sendJson(res, 202, { id: event.id });
  }

  private async postSensor({ req, res, token, params: [name] }: Call): Promise<void> {
    if (name === undefined || !isSensorName(name))
      throw notFound(`no sensor ${JSON.stringify(name)}; sensors: alertmanager, datadog, eventbridge`);
    const body = await readBody(req, SENSOR_BODY_MAX_BYTES);
    if (token === undefined) throw new Error('POST /v1/sensors reached without a token');
    const put = sensorPut(
      name,
      body,
      { via: 'api', token, node: this.o.nodeId },
      this.sensorMappings,
      this.serviceNames,
      this.now(),
    );
    try {
      await this.o.put(put.bytes, put.partitionKey);
    } catch (error) {
      this.o.log?.warn({ err: error, sensor: name }, 'POST /v1/sensors: the stream could not be written');
      throw unavailable(
        `the ${name} payload could not be put on the stream (${error instanceof Error ? error.message : String(error)})`,
        error,
      );
    }
    this.o.log?.info(
      { sensor: name, token, items: put.items.length },
      `${name} payload submitted with token ${token}`,
    );
    sendJson(res, 202, { sensor: name, items: put.items });
  }

  private async services({ res }: Call): Promise<void> {
    const services = await this.viaRedis('services', () =>
      servicesView(this.o.redis, this.o.keys, this.o.config, this.now()),
    );
    sendJson(res, 200, { services });
  }

  private async cluster({ res }: Call): Promise<void> {
    const view = await this.viaRedis('cluster', async () =>
      clusterView(
        this.o.redis,
        this.o.keys,
        this.o.config,
        this.now(),
        this.o.shards === undefined ? undefined : await this.o.shards(),
        this.o.nodeId,
      ),
    );
    sendJson(res, 200, view);
  }

  /**
   * Ready: the node is `running`, Redis answers PING and the stream answers, each within
   * `pingTimeoutMs`; else 503 naming every check that failed. Either way the answer carries each
   * check and the quorum: which nodes could vote now (this one, and each peer that answered Ping as
   * `running`) and whether they reach `quorum`. A quorum out of reach does not make the node
   * unready: it still serves the API and the console, which say why every event escalates.
   */
  private async ready({ res }: Call): Promise<void> {
    const state = this.o.state();
    const timeoutMs = this.o.pingTimeoutMs ?? 1000;
    const within = async (what: Promise<unknown>): Promise<string> => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          what,
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
        return 'ok';
      } catch (error) {
        return error instanceof Error ? error.message : String(error);
      } finally {
        clearTimeout(timer);
      }
    };
    const [redis, stream, peers] = await Promise.all([
      within(this.o.redis.ping()),
      this.o.streamCheck === undefined ? Promise.resolve(undefined) : within(this.o.streamCheck()),
      this.o
        .peerCheck?.()
        .catch((error: unknown): PeerReadiness[] => [
          { node: '?', error: error instanceof Error ? error.message : String(error) },
        ]),
    ]);
    const needed = this.o.quorum ?? this.o.config.region.quorum;
    const voters = [
      ...(state === 'running' ? [this.o.nodeId] : []),
      ...(peers ?? []).filter((p) => p.state === 'running').map((p) => p.node),
    ];
    const checks = {
      state,
      redis,
      ...(stream === undefined ? {} : { stream }),
      ...(peers === undefined
        ? {}
        : {
            quorum: {
              needed,
              voters,
              possible: voters.length >= needed,
              peers: Object.fromEntries(peers.map((p) => [p.node, p.state ?? p.error ?? 'unknown'])),
            },
          }),
    };
    const failed = [
      ...(state === 'running' ? [] : [`the node is ${state}, not running`]),
      ...(redis === 'ok' ? [] : [`Redis does not answer PING (${redis})`]),
      ...(stream === undefined || stream === 'ok' ? [] : [`the stream does not answer (${stream})`]),
    ];
    if (failed.length > 0)
      throw new ApiError(ApiErrorCodes.UNAVAILABLE, failed.join('; '), { extra: { checks } });
    sendJson(res, 200, { status: 'ready', ...checks });
  }

  private async metricsText({ res }: Call): Promise<void> {
    sendBytes(res, 200, this.o.metrics.contentType, await this.o.metrics.text(), {
      'Cache-Control': 'no-store',
    });
  }

  private async serveFile(method: string, url: URL, res: ServerResponse): Promise<void> {
    if (method !== 'GET')
      throw new ApiError(ApiErrorCodes.METHOD_NOT_ALLOWED, 'the console is read only', {
        extra: { allow: ['GET', 'HEAD'] },
      });
    const file = await this.files.read(url.pathname);
    if (file === undefined) throw notFound(`no file ${url.pathname}`);
    sendBytes(res, 200, file.contentType, file.body, { 'Cache-Control': 'no-cache' });
  }
}
