/**
 * `lazarus nagios-notify host|service [--macro NAME=VALUE...] [--service S] [--environment E]
 * [--incident-key K | --no-incident-key] [--api URL...] [--token-env NAME] [--ca FILE]
 * [--config DIR] [--dry-run]`: a Nagios notification command. The notification's macros, from the
 * command line (`--macro HOSTSTATE=$HOSTSTATE$`) or from Nagios' environment macros
 * (`NAGIOS_HOSTSTATE`, with `enable_environment_macros=1`), become the event (sensors/nagios.ts says
 * how), which goes:
 *
 * - with `--api URL`, to a node's REST API (`POST /v1/events`, `Authorization: Bearer` with the
 *   token of the variable `--token-env` names, `LAZARUS_API_TOKEN` by default: never on the command
 *   line, which Nagios logs and `ps` shows). More than one `--api`: tried in order while a node gives
 *   no answer or a 503 (the same event twice is decided once: its id is the same);
 * - else onto the stream of the configuration (`--config`, as `lazarus submit` puts it).
 *
 * `--dry-run` prints the event and sends nothing. Exit 0: sent, or a notification that is not sent
 * (a recovery or an acknowledgement, say: Nagios need not log a failed command for it); 1: not
 * delivered (no node answered, the stream could not be written); 2: a macro missing or wrong, bad
 * usage, or refused.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { configDir } from '../common/package-root.js';
import { parseEvent } from '../events/parse.js';
import { nagiosEvent } from '../sensors/nagios.js';
import type { NagiosObject } from '../sensors/nagios.js';
import { CA_ENV, DEFAULT_TOKEN_ENV } from './events.js';
import { submitEvent } from './submit.js';

export interface NagiosNotifyOptions {
  /** `host` or `service`: the command's argument. */
  readonly object: string | undefined;
  /** `NAME=VALUE`, each as given. */
  readonly macros: readonly string[];
  readonly service?: string;
  readonly environment?: string;
  readonly incidentKey?: string | false;
  /** Nodes' REST APIs, tried in order. Empty: the stream of `config`. */
  readonly api: readonly string[];
  /** @defaultValue {@link DEFAULT_TOKEN_ENV} */
  readonly tokenEnv?: string;
  /** @defaultValue `$LAZARUS_API_CA`, else Node's own CA list */
  readonly ca?: string;
  /** `--config` as given (`undefined`: `$LAZARUS_CONFIG`, else the shipped local region). */
  readonly config?: string;
  readonly dryRun: boolean;
}

const COMMAND = 'lazarus nagios-notify';
/** A notification command should end well within Nagios' notification_timeout (30 s by default). */
const TIMEOUT_MS = 10_000;

export async function nagiosNotifyCommand(
  options: NagiosNotifyOptions,
  env: Readonly<Record<string, string | undefined>>,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
  nowMs: number = Date.now(),
): Promise<number> {
  const usage = (message: string): number => {
    err.write(`${COMMAND}: ${message}\n`);
    return 2;
  };
  const object = options.object;
  if (object !== 'host' && object !== 'service')
    return usage(
      `${object === undefined ? 'say' : `"${object}": say`} host (in host_notification_commands) or service (in service_notification_commands)`,
    );
  if (options.api.length > 0 && options.config !== undefined)
    return usage('--api sends through a node, --config onto the stream: give one of them');
  const macros: Record<string, string> = {};
  for (const given of options.macros) {
    const at = given.indexOf('=');
    const name = at < 0 ? '' : given.slice(0, at);
    if (!/^_?[A-Z][A-Z0-9_]*$/.test(name))
      return usage(`--macro ${given}: NAME=VALUE, NAME as the macro is written between the $s (HOSTSTATE)`);
    macros[name] = given.slice(at + 1);
  }

  const mapped = nagiosEvent({
    object: object satisfies NagiosObject,
    macros,
    env,
    nowMs,
    ...(options.service === undefined ? {} : { service: options.service }),
    ...(options.environment === undefined ? {} : { environment: options.environment }),
    ...(options.incidentKey === undefined ? {} : { incidentKey: options.incidentKey }),
  });
  if (mapped.kind === 'invalid') {
    for (const p of mapped.problems) err.write(`${COMMAND}: ${p.message}\n`);
    return 2;
  }
  if (mapped.kind === 'not_sent') {
    out.write(`not sent (${mapped.notificationType}): ${mapped.reason}\n`);
    return 0;
  }
  const bytes = Buffer.from(JSON.stringify(mapped.event));
  // What the API and the nodes will ask of it, asked here first: a refusal names the field now.
  const parsed = parseEvent(bytes);
  if (!parsed.ok)
    return usage(`the event is refused (${parsed.rejection.code}): ${parsed.rejection.message}`);
  if (options.dryRun) {
    out.write(JSON.stringify(mapped.event, null, 2) + '\n');
    return 0;
  }
  if (options.api.length === 0) {
    try {
      return await submitEvent(configDir(options.config), bytes, { raw: false }, out);
    } catch (error) {
      err.write(`${COMMAND}: the stream could not be written: ${messageOf(error)}\n`);
      return 1;
    }
  }

  const tokenEnv = options.tokenEnv ?? DEFAULT_TOKEN_ENV;
  const token = env[tokenEnv];
  if (token === undefined || token === '')
    return usage(
      `no API token: $${tokenEnv} is not set (--token-env NAME names the variable that holds it; Nagios passes its own environment to the command)`,
    );
  const caFile = options.ca ?? (env[CA_ENV] === '' ? undefined : env[CA_ENV]);
  let ca: Buffer | undefined;
  if (caFile !== undefined) {
    try {
      ca = await readFile(caFile);
    } catch (error) {
      return usage(
        `${options.ca === undefined ? `$${CA_ENV}` : '--ca'} ${caFile} cannot be read (${(error as NodeJS.ErrnoException).code ?? messageOf(error)})`,
      );
    }
  }
  const failures: string[] = [];
  for (const api of options.api) {
    // A bare host:port is http, as the local region serves it; a node with api.tls is given as https://.
    const base = /^https?:\/\//.test(api) ? api : `http://${api}`;
    const url = `${base.replace(/\/+$/, '')}/v1/events`;
    let answer: { status: number; text: string };
    try {
      answer = await post(url, bytes, token, ca);
    } catch (error) {
      failures.push(`${url}: ${messageOf(error)}`);
      continue;
    }
    if (answer.status === 202) {
      out.write(`${mapped.event.id} → ${url}: ${answer.status} ${answer.text.trim()}\n`);
      return 0;
    }
    // This node cannot reach Redis or the stream, or is not running: another one may.
    if (answer.status === 503) {
      failures.push(`${url}: 503 ${refusal(answer.text)}`);
      continue;
    }
    err.write(`${COMMAND}: ${url} answered ${answer.status} ${refusal(answer.text)}\n`);
    if (answer.status === 401 || answer.status === 403)
      err.write(`${COMMAND}: the token in $${tokenEnv} was refused\n`);
    return 2;
  }
  err.write(
    `${COMMAND}: the event ${mapped.event.id} was not delivered: no node accepted it:\n` +
      failures.map((f) => `  ${f}\n`).join(''),
  );
  return 1;
}

/** The API's error as a line: `CODE: message`, then each problem it names. */
function refusal(text: string): string {
  try {
    const body = JSON.parse(text) as {
      error?: { code?: string; message?: string; errors?: { path?: string; message?: string }[] };
    };
    const e = body.error;
    if (e === undefined) return text.trim().slice(0, 500);
    const each = (e.errors ?? []).map(
      (p) => `\n  ${p.path === '' ? '/' : (p.path ?? '?')}: ${p.message ?? ''}`,
    );
    return `${e.code ?? ''}: ${e.message ?? ''}${each.join('')}`;
  } catch {
    return text.trim().slice(0, 500);
  }
}

/**
 * One POST with node:http(s) rather than `fetch`, which cannot be told which CA to trust (a node
 * with `api.tls` usually has a certificate of the region's own CA). Resolves with any answer.
 */
function post(
  url: string,
  body: Buffer,
  token: string,
  ca: Buffer | undefined,
): Promise<{ status: number; text: string }> {
  const target = new URL(url);
  const https = target.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const onAnswer = (res: IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          text: Buffer.concat(chunks).toString('utf8').slice(0, 64_000),
        });
      });
      res.on('error', fail);
    };
    // agent: false: one connection, closed after the answer, so that the command exits at once.
    const common = {
      method: 'POST',
      agent: false,
      headers: {
        Authorization: `Bearer ${token}`,
        'Content-Type': 'application/json',
        Accept: 'application/json',
        'Content-Length': String(body.byteLength),
      },
    } as const;
    const req = https
      ? httpsRequest(target, { ...common, ...(ca === undefined ? {} : { ca }) }, onAnswer)
      : httpRequest(target, common, onAnswer);
    function fail(error: Error): void {
      clearTimeout(timer);
      reject(error);
    }
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    req.on('error', fail);
    req.end(body);
  });
}

function messageOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  return code !== undefined && !error.message.includes(code) ? `${code} (${error.message})` : error.message;
}
