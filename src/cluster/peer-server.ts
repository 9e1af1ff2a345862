/**
 * The gRPC server every node runs: peers ask it for this node's vote. Errors become gRPC status
 * codes at this boundary; the coordinator records them as the peer's failure to vote.
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { LzError } from '../common/errors.js';
import { peerService } from './proto.js';
import { peerNodeIds } from './tls.js';
import type { PeerIdentity } from './tls.js';
import type {
  BatchVoteMessage,
  EvaluateBatchRequestMessage,
  EvaluateRequestMessage,
  PingReplyMessage,
  PingRequestMessage,
  VoteMessage,
} from './proto.js';

export interface PeerHandlers {
  evaluate(request: EvaluateRequestMessage): Promise<VoteMessage>;
  ping(request: PingRequestMessage): PingReplyMessage;
  /** Told of each call answered (metrics); `events`: how many an EvaluateBatch asked. */
  received?(method: 'Evaluate' | 'EvaluateBatch' | 'Ping', events?: number): void;
}

/** The most events one EvaluateBatch may ask (a shard's batch is at most a few hundred). */
export const MAX_BATCH_EVENTS = 1000;

/** How the server knows its callers. */
export type PeerTransport =
  | {
      /** Mutual TLS: only the region's nodes, each for itself. */
      readonly identity: PeerIdentity;
      /** The region's node ids: a client certificate must name one. */
      readonly nodes: readonly string[];
    }
  | { readonly insecure: true };

/**
 * Who may make a call: with mutual TLS, a client whose certificate names one of the region's nodes,
 * and (for `Evaluate`) names the coordinator the request says it is. `undefined`: allowed.
 */
function refusal(
  transport: PeerTransport,
  call: Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getAuthContext'>,
  coordinator?: string,
): string | undefined {
  if ('insecure' in transport) return undefined;
  const names = peerNodeIds(call);
  const nodes = names.filter((n) => transport.nodes.includes(n));
  const node = nodes[0];
  if (node === undefined)
    return `the client certificate names ${names.join(', ') || 'nothing'}, none of the region's nodes`;
  // One certificate, one node: a certificate naming two could ask (and vote) as either.
  if (nodes.length > 1) return `the client certificate names ${nodes.join(' and ')}: one node each`;
  if (coordinator !== undefined && !names.includes(coordinator))
    return `a request as coordinator ${coordinator} over node ${node}'s certificate: a node asks only for itself`;
  return undefined;
}

/** The peer service's name in `grpc.health.v1` (the package and service of proto/peer.proto). */
export const PEER_SERVICE_NAME = 'lazarus.peer.v1.Peer';

export class PeerServer {
  private constructor(
    private readonly server: grpc.Server,
    private readonly health: HealthImplementation,
  ) {}

  /**
   * `grpc.health.v1.Health` on the peer port answers `SERVING` (for the server, `''`, and for the
   * peer service) only while this is `true`: the node is `running`. Before, while it drains and
   * after, `NOT_SERVING`. Its callers are the peers' TLS clients (the port takes no other): a
   * probe needs a region certificate (`grpc_health_probe -tls -tls-client-cert …`).
   */
  setServing(serving: boolean): void {
    const status = serving ? 'SERVING' : 'NOT_SERVING';
    this.health.setStatus('', status);
    this.health.setStatus(PEER_SERVICE_NAME, status);
  }

  /** Binds `address` (host:port); the port actually bound is returned by `port`. */
  static async start(
    address: string,
    handlers: PeerHandlers,
    transport: PeerTransport,
  ): Promise<{ server: PeerServer; port: number }> {
    const server = new grpc.Server({
      // Connections do not outlive a rotation (or a certificate taken away) by more than this.
      'grpc.max_connection_age_ms': 10 * 60_000,
      'grpc.max_connection_age_grace_ms': 30_000,
    });
    server.addService(peerService().service, {
      Evaluate: (
        call: grpc.ServerUnaryCall<EvaluateRequestMessage, VoteMessage>,
        callback: grpc.sendUnaryData<VoteMessage>,
      ) => {
        handlers.received?.('Evaluate');
        const refused = refusal(transport, call, call.request.coordinator);
        if (refused !== undefined) {
          callback({ code: grpc.status.PERMISSION_DENIED, details: refused });
          return;
        }
        handlers.evaluate(call.request).then(
          (vote) => callback(null, vote),
          (error: unknown) =>
            callback({
              // A request this node cannot evaluate is the caller's: the same call fails the same way.
              code:
                error instanceof LzError && !error.retryable
                  ? grpc.status.INVALID_ARGUMENT
                  : grpc.status.INTERNAL,
              details: error instanceof Error ? error.message : String(error),
            }),
        );
      },
      // Each event's vote as soon as it is ready; the call ends once every event has its answer.
      EvaluateBatch: (call: grpc.ServerWritableStream<EvaluateBatchRequestMessage, BatchVoteMessage>) => {
        const requests = call.request.requests ?? [];
        handlers.received?.('EvaluateBatch', requests.length);
        // Every request must be the caller's own (one refused: the whole call is).
        for (const request of requests) {
          const refused = refusal(transport, call, request.coordinator);
          if (refused !== undefined) {
            call.emit('error', { code: grpc.status.PERMISSION_DENIED, details: refused });
            return;
          }
        }
        if (requests.length > MAX_BATCH_EVENTS) {
          call.emit('error', {
            code: grpc.status.INVALID_ARGUMENT,
            details: `${requests.length} events in one EvaluateBatch: at most ${MAX_BATCH_EVENTS}`,
          });
          return;
        }
        let left = requests.length;
        if (left === 0) {
          call.end();
          return;
        }
        const answer = (message: BatchVoteMessage): void => {
          // A coordinator that went away (or cancelled: it has decided) reads nothing more.
          if (!call.cancelled) call.write(message);
          left -= 1;
          if (left === 0 && !call.cancelled) call.end();
        };
        requests.forEach((request, index) => {
          handlers.evaluate(request).then(
            (vote) => answer({ index, vote, error: '', invalid: false }),
            (error: unknown) =>
              answer({
                index,
                error: error instanceof Error ? error.message : String(error),
                invalid: error instanceof LzError && !error.retryable,
              }),
          );
        });
      },
      Ping: (
        call: grpc.ServerUnaryCall<PingRequestMessage, PingReplyMessage>,
        callback: grpc.sendUnaryData<PingReplyMessage>,
      ) => {
        handlers.received?.('Ping');
        const refused = refusal(transport, call);
        if (refused !== undefined) callback({ code: grpc.status.PERMISSION_DENIED, details: refused });
        else callback(null, handlers.ping(call.request));
      },
    });
    const health = new HealthImplementation({ '': 'NOT_SERVING', [PEER_SERVICE_NAME]: 'NOT_SERVING' });
    health.addToServer(server);
    const port = await new Promise<number>((resolve, reject) => {
      const credentials =
        'insecure' in transport
          ? grpc.ServerCredentials.createInsecure()
          : transport.identity.serverCredentials();
      server.bindAsync(address, credentials, (error, bound) =>
        error === null ? resolve(bound) : reject(error),
      );
    });
    return { server: new PeerServer(server, health), port };
  }

  /** Stops taking calls and lets the ones in flight finish, for at most `graceMs`. */
  async stop(graceMs = 2000): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
