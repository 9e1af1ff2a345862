/** The peer protocol's messages as TypeScript sees them, and the loaded gRPC service definition. */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { packageRoot } from '../common/package-root.js';

export interface CheckRequestMessage {
  name: string;
  threshold_json: string;
  options_json: string;
}

export interface EvaluateRequestMessage {
  event_json: string;
  rule_id: string;
  checks: CheckRequestMessage[];
  coordinator: string;
}

export interface EvaluateBatchRequestMessage {
  requests: EvaluateRequestMessage[];
}

export interface BatchVoteMessage {
  index: number;
  /** Absent (null from the loader) when `error` says why there is no vote. */
  vote?: VoteMessage | null;
  error: string;
  invalid: boolean;
}

export interface CheckResultMessage {
  name: string;
  pass: boolean;
  measured: string;
  threshold: string;
  detail: string;
}

export interface VoteMessage {
  node_id: string;
  zone: string;
  pass: boolean;
  checks: CheckResultMessage[];
  duration_ms: number;
}

export interface PingRequestMessage {
  from: string;
}

export interface PingReplyMessage {
  node_id: string;
  zone: string;
  state: string;
}

let cached: grpc.ServiceClientConstructor | undefined;

/** The `lazarus.peer.v1.Peer` service, loaded once from `proto/peer.proto`. */
export function peerService(): grpc.ServiceClientConstructor {
  if (cached !== undefined) return cached;
  const definition = protoLoader.loadSync(join(packageRoot(), 'proto', 'peer.proto'), {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    lazarus: { peer: { v1: { Peer: grpc.ServiceClientConstructor } } };
  };
  cached = loaded.lazarus.peer.v1.Peer;
  return cached;
}
