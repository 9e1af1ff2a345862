/**
 * The gRPC server every node runs: peers ask it for this node's vote. Errors become gRPC status
 * codes at this boundary; the coordinator records them as the peer's failure to vote.
 */
import * as grpc from '@grpc/grpc-js';
import { LzError } from '../common/errors.js';
import { peerService } from './proto.js';
import type { EvaluateRequestMessage, PingReplyMessage, PingRequestMessage, VoteMessage } from './proto.js';

export interface PeerHandlers {
  evaluate(request: EvaluateRequestMessage): Promise<VoteMessage>;
  ping(request: PingRequestMessage): PingReplyMessage;
}

export class PeerServer {
  private constructor(private readonly server: grpc.Server) {}

  /** Binds `address` (host:port) without TLS; the port actually bound is returned by `port`. */
  static async start(address: string, handlers: PeerHandlers): Promise<{ server: PeerServer; port: number }> {
    const server = new grpc.Server();
    server.addService(peerService().service, {
      Evaluate: (
        call: grpc.ServerUnaryCall<EvaluateRequestMessage, VoteMessage>,
        callback: grpc.sendUnaryData<VoteMessage>,
      ) => {
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
      Ping: (
        call: grpc.ServerUnaryCall<PingRequestMessage, PingReplyMessage>,
        callback: grpc.sendUnaryData<PingReplyMessage>,
      ) => {
        callback(null, handlers.ping(call.request));
      },
    });
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (error, bound) =>
        error === null ? resolve(bound) : reject(error),
      );
    });
    return { server: new PeerServer(server), port };
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
