/** Calls to one peer, each with a deadline. */
import * as grpc from '@grpc/grpc-js';
import { peerService } from './proto.js';
import { expectPeer } from './tls.js';
import type { PeerIdentity } from './tls.js';
import type { EvaluateRequestMessage, PingReplyMessage, VoteMessage } from './proto.js';

type Unary<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response?: Res) => void,
) => grpc.ClientUnaryCall;

export class PeerClient {
  private readonly client: grpc.Client;

  /**
   * With `identity`, mutual TLS: this node's certificate is presented, and the peer must present
   * one from the region's CA that names `nodeId` (else every call fails: no vote counts for it).
   */
  constructor(
    readonly nodeId: string,
    readonly address: string,
    identity?: PeerIdentity,
  ) {
    const Peer = peerService();
    this.client = new Peer(
      address,
      identity === undefined ? grpc.credentials.createInsecure() : identity.channelCredentials(nodeId),
      {
        // Reconnect quickly after a peer restarts: a vote that waits on backoff is a vote lost.
        'grpc.initial_reconnect_backoff_ms': 200,
        'grpc.max_reconnect_backoff_ms': 2000,
        ...(identity === undefined ? {} : expectPeer(nodeId)),
      },
    );
  }

  evaluate(request: EvaluateRequestMessage, deadlineMs: number, signal?: AbortSignal): Promise<VoteMessage> {
    return this.call<EvaluateRequestMessage, VoteMessage>('Evaluate', request, deadlineMs, signal);
  }

  ping(from: string, deadlineMs: number): Promise<PingReplyMessage> {
    return this.call('Ping', { from }, deadlineMs);
  }

  close(): void {
    this.client.close();
  }

  private call<Req, Res>(
    method: string,
    request: Req,
    deadlineMs: number,
    signal?: AbortSignal,
  ): Promise<Res> {
    const fn = (this.client as unknown as Record<string, Unary<Req, Res>>)[method];
    if (fn === undefined) return Promise.reject(new Error(`peer protocol has no method ${method}`));
    return new Promise<Res>((resolve, reject) => {
      const call = fn.call(
        this.client,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + deadlineMs },
        (error, response) => {
          if (error !== null)
            reject(
              new Error(`${this.nodeId} (${this.address}): ${grpc.status[error.code]}: ${error.details}`),
            );
          else if (response === undefined) reject(new Error(`${this.nodeId}: empty answer`));
          else resolve(response);
        },
      );
      signal?.addEventListener('abort', () => call.cancel(), { once: true });
    });
  }
}
