/**
 * `lazarus health --node ID`: asks a node's peer port for its `grpc.health.v1` status, as one of its
 * peers would (over mutual TLS with the node's own certificate, checking that the server is that
 * node), and exits 0 on `SERVING`. It is the probe for whatever cannot speak mutual TLS itself:
 * Kubernetes' built-in gRPC probe has no client certificate, so a StatefulSet runs this as an exec
 * probe; Docker's `HEALTHCHECK` and a load balancer's script can run it too.
 *
 * Exit 0 `SERVING` (the node is `running`), 1 `NOT_SERVING` (starting or draining) or no answer
 * within `--timeout`, 2 a usage or configuration error.
 */
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { PEER_SERVICE_NAME } from '../cluster/peer-server.js';
import { expectPeer, nodeTlsFiles, PeerIdentity } from '../cluster/tls.js';
import { parseDuration } from '../common/duration.js';
import { loadConfig } from '../config/load.js';
import { formatIssue } from '../config/source.js';
import { defaultCatalog } from '../controller/catalog.js';

export interface HealthCommandOptions {
  readonly node?: string;
  /** `grpc.health.v1` service name: '' (the server) or the peer service. @defaultValue the peer service */
  readonly service?: string;
  /** How long to wait for the answer. @defaultValue 2s */
  readonly timeout?: string;
}

export async function healthCommand(
  dir: string,
  options: HealthCommandOptions,
  env: NodeJS.ProcessEnv,
  out: NodeJS.WritableStream,
): Promise<number> {
  const nodeId = options.node ?? env['LAZARUS_NODE'];
  if (nodeId === undefined || nodeId === '') {
    out.write('lazarus health: --node ID is required (or $LAZARUS_NODE)\n');
    return 2;
  }
  const timeoutMs = parseDuration(options.timeout ?? '2s');
  if (timeoutMs === undefined || timeoutMs <= 0) {
    out.write(`lazarus health: --timeout ${options.timeout}: not a duration such as 2s or 500ms\n`);
    return 2;
  }
  const result = await loadConfig(dir, defaultCatalog());
  if (!result.ok) {
    for (const issue of result.issues) out.write(formatIssue(issue) + '\n');
    return 2;
  }
  const { region } = result.config;
  const self = region.nodes.find((n) => n.id === nodeId);
  if (self === undefined) {
    out.write(
      `lazarus health: node ${nodeId} is not in region.yaml (nodes: ${region.nodes.map((n) => n.id).join(', ')})\n`,
    );
    return 2;
  }
  let credentials: grpc.ChannelCredentials;
  let channelOptions: grpc.ChannelOptions = {};
  if ('tls' in region.peers) {
    try {
      const identity = await PeerIdentity.load(
        nodeId,
        nodeTlsFiles(region.peers.tls, nodeId),
        region.nodes.map((n) => n.id),
      );
      credentials = identity.channelCredentials(nodeId);
      channelOptions = expectPeer(nodeId);
    } catch (error) {
      out.write(`lazarus health: ${error instanceof Error ? error.message : String(error)}\n`);
      return 2;
    }
  } else {
    credentials = grpc.credentials.createInsecure();
  }
  const Health = grpc.makeGenericClientConstructor(healthService, 'Health');
  const client = new Health(self.grpc, credentials, channelOptions);
  const service = options.service ?? PEER_SERVICE_NAME;
  try {
    const status = await new Promise<string>((resolve, reject) => {
      (client as unknown as Record<string, (...args: unknown[]) => void>)['check']?.(
        { service },
        { deadline: Date.now() + timeoutMs },
        (error: grpc.ServiceError | null, reply?: { status: string }) =>
          error === null ? resolve(reply?.status ?? 'UNKNOWN') : reject(error),
      );
    });
    out.write(`${nodeId} (${self.grpc}): ${status}\n`);
    return status === 'SERVING' ? 0 : 1;
  } catch (error) {
    const e = error as grpc.ServiceError;
    const why = typeof e.code === 'number' ? `${grpc.status[e.code]}: ${e.details}` : String(error);
    out.write(`${nodeId} (${self.grpc}): no answer (${why})\n`);
    return 1;
  } finally {
    client.close();
  }
}
