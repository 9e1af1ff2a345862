/**
 * Error codes of the controller (one registry: every code with its meaning, whether retrying can
 * help, and how it is answered over HTTP and gRPC).
 */
import { errorRegistry } from '../common/errors.js';

export const CONTROLLER_ERRORS = errorRegistry('controller', {
  /** Another node held the event's claim for longer than a decision takes (tried again later). */
  CLAIM_HELD: {
    code: 'LZ_ERR_CLAIM_HELD',
    message: "another node held an event's claim longer than a decision takes; the batch is read again later",
    retryable: true,
    http: 503,
    grpc: 'UNAVAILABLE',
  },
  /**
   * An attempt at an event was asked for a step its state does not allow (a bug): refused, so the
   * event is set aside and nothing acts.
   */
  ATTEMPT_STATE: {
    code: 'LZ_ERR_ATTEMPT_STATE',
    message:
      "an event's attempt was asked for a step its state does not allow (a bug): the event is set aside, nothing acts",
    retryable: false,
    http: 500,
    grpc: 'INTERNAL',
  },
  /** A peer could not evaluate what the coordinator sent (an invalid event). */
  PEER_BAD_REQUEST: {
    code: 'LZ_ERR_PEER_BAD_REQUEST',
    message:
      "a peer could not evaluate what the coordinator sent (an invalid event): gRPC `INVALID_ARGUMENT`, recorded as that peer's failure to vote",
    retryable: false,
    http: 400,
    grpc: 'INVALID_ARGUMENT',
  },
  /**
   * A node could not start (its configuration names no such node, its TLS files cannot be used, a
   * listener could not bind).
   */
  NODE_START: {
    code: 'LZ_ERR_NODE_START',
    message:
      "a node could not start (its id is not in region.yaml's nodes, a TLS file named in `peers.tls` or `api.tls` cannot be read or used, or a port could not be bound); its state is `failed`",
    retryable: false,
    http: 500,
    grpc: 'INTERNAL',
  },
});

export const ControllerErrorCodes = CONTROLLER_ERRORS.codes;
