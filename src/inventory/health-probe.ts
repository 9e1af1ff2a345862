/**
 * The health-check request this node makes itself. It is sent from the node's own source address
 * (its zone), never through a proxy or a shared cache: the HealthCheckDown vote of each node must
 * be its own view of the host, or the partition guard means nothing.
 */
import * as http from 'node:http';
import * as https from 'node:https';

export interface ProbeResult {
  readonly url: string;
  /** The HTTP status, or `undefined` when no answer came (refused, reset, timed out). */
  readonly status: number | undefined;
  readonly healthy: boolean;
  readonly error?: string;
  readonly ms: number;
  /** The source address the request was sent from, when one was set. */
  readonly from?: string;
}

export interface ProbeOptions {
  readonly timeoutMs: number;
  readonly localAddress?: string;
}

export function probeHealth(url: string, options: ProbeOptions): Promise<ProbeResult> {
  const started = performance.now();
  const from = options.localAddress === undefined ? {} : { from: options.localAddress };
  return new Promise((resolve) => {
    const done = (status: number | undefined, error?: string): void => {
      const ms = Math.round(performance.now() - started);
      resolve({
        url,
        status,
        healthy: status !== undefined && status >= 200 && status < 300,
        ms,
        ...from,
        ...(error === undefined ? {} : { error }),
      });
    };
    let request: http.ClientRequest;
    try {
      const client = url.startsWith('https:') ? https : http;
      request = client.get(url, {
        timeout: options.timeoutMs,
        agent: agentFor(url, options.localAddress),
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      });
    } catch (error) {
      done(undefined, (error as Error).message);
      return;
    }
    request.on('response', (response) => {
      response.resume();
      done(response.statusCode);
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
    request.on('error', (error) => done(undefined, error.message));
  });
}

const agents = new Map<string, http.Agent>();

/** Keep-alive connections per source address: a probe costs a request, not a TCP handshake. */
function agentFor(url: string, localAddress: string | undefined): http.Agent {
  const key = `${url.startsWith('https:') ? 's' : ''}${localAddress ?? ''}`;
  let agent = agents.get(key);
  if (agent === undefined) {
    const options = {
      keepAlive: true,
      maxSockets: 256,
      ...(localAddress === undefined ? {} : { localAddress }),
    };
    agent = url.startsWith('https:') ? new https.Agent(options) : new http.Agent(options);
    agents.set(key, agent);
  }
  return agent;
}
