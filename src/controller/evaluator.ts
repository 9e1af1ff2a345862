/**
 * This node's vote on an event: it runs the rule's checks itself, against the inventory and with
 * health probes sent from its own zone. The same code answers a peer's Evaluate call and the
 * coordinator's own vote.
 */
import type { CheckContext, CheckDefinition, CheckHost } from '../checks/definition.js';
import { evaluateChecks } from '../checks/evaluate.js';
import type { CheckToRun } from '../checks/evaluate.js';
import type { Vote } from '../cluster/quorum.js';
import type { CheckRequestMessage, EvaluateRequestMessage, VoteMessage } from '../cluster/proto.js';
import type { ClusterNode } from '../config/types.js';
import type { LzEvent } from '../events/schema.js';
import { parseEvent } from '../events/parse.js';
import { LzError } from '../common/errors.js';
import { ProbeCache } from '../inventory/probe-cache.js';
import type { InventoryProvider } from '../inventory/types.js';
import { CONTROLLER_ERRORS } from './errors.js';

export interface EvaluatorOptions {
  readonly node: ClusterNode;
  readonly inventory: InventoryProvider;
  readonly checks: ReadonlyMap<string, CheckDefinition>;
  /** @defaultValue 2000 */
  readonly probeTimeoutMs?: number;
  /** How long this node reuses a peer's probe answer. @defaultValue 500 */
  readonly probeCacheMs?: number;
  /** The region's `events.max_bytes`, so that a peer accepts what its coordinator accepted. */
  readonly maxEventBytes?: number;
}

export const EvaluatorErrorCodes = {
  BAD_REQUEST: CONTROLLER_ERRORS.codes.PEER_BAD_REQUEST,
} as const;

export class Evaluator {
  private readonly probes: ProbeCache;

  constructor(private readonly o: EvaluatorOptions) {
    this.probes = new ProbeCache(o.probeCacheMs ?? 500);
  }

  async vote(event: LzEvent, checks: readonly CheckToRun[]): Promise<Vote> {
    const started = performance.now();
    const { node, inventory } = this.o;
    // One inventory read per evaluation, shared by its checks.
    let hosts: Promise<readonly CheckHost[]> | undefined;
    // A fresh probe of this evaluation is one started after it began (shared with the other
    // evaluations of the moment: a peer's EvaluateBatch starts them together), and a check's next
    // attempt one started after its previous answer: never an answer from before it was asked.
    const asked = this.probes.now();
    const answered = new Map<string, number>();
    const contextFor = (check: CheckToRun): CheckContext => ({
      service: event.service,
      host: event.host,
      threshold: check.threshold,
      options: check.options,
      node: { id: node.id, zone: node.zone },
      hosts: () => (hosts ??= inventory.hostsOf(event.service)),
      probe: async (host, options) => {
        const fresh = options?.fresh === true;
        const result = await this.probes.probe(
          host.healthUrl,
          {
            timeoutMs: options?.timeoutMs ?? this.o.probeTimeoutMs ?? 2000,
            ...(node.sourceAddress === undefined ? {} : { localAddress: node.sourceAddress }),
          },
          fresh,
          fresh ? (answered.get(host.healthUrl) ?? asked) : undefined,
        );
        if (fresh) answered.set(host.healthUrl, this.probes.now());
        return result;
      },
    });
    const result = await evaluateChecks(checks, this.o.checks, contextFor);
    return {
      node: node.id,
      zone: node.zone,
      pass: result.pass,
      checks: result.checks,
      durationMs: Math.round(performance.now() - started),
    };
  }

  /** A peer's Evaluate call. */
  async answer(request: EvaluateRequestMessage): Promise<VoteMessage> {
    const parsed = parseEvent(
      request.event_json,
      this.o.maxEventBytes === undefined ? {} : { maxBytes: this.o.maxEventBytes },
    );
    if (!parsed.ok)
      throw new LzError(
        EvaluatorErrorCodes.BAD_REQUEST,
        `the coordinator sent an invalid event: ${parsed.rejection.message}`,
      );
    let checks: CheckToRun[];
    try {
      checks = request.checks.map(fromMessage);
    } catch (error) {
      throw new LzError(
        EvaluatorErrorCodes.BAD_REQUEST,
        `the coordinator sent checks that are not JSON: ${(error as Error).message}`,
      );
    }
    return toMessage(await this.vote(parsed.event, checks));
  }
}

export function toCheckMessage(check: CheckToRun): CheckRequestMessage {
  return {
    name: check.name,
    threshold_json: check.threshold === undefined ? '' : JSON.stringify(check.threshold),
    options_json: JSON.stringify(check.options),
  };
}

function fromMessage(m: CheckRequestMessage): CheckToRun {
  return {
    name: m.name,
    threshold: m.threshold_json === '' ? undefined : (JSON.parse(m.threshold_json) as unknown),
    options: m.options_json === '' ? {} : (JSON.parse(m.options_json) as Record<string, unknown>),
  };
}

function toMessage(vote: Vote): VoteMessage {
  return {
    node_id: vote.node,
    zone: vote.zone,
    pass: vote.pass,
    checks: vote.checks.map((c) => ({ ...c })),
    duration_ms: vote.durationMs,
  };
}

export function fromVoteMessage(m: VoteMessage): Vote {
  return {
    node: m.node_id,
    zone: m.zone,
    pass: m.pass,
    checks: m.checks.map((c) => ({
      name: c.name,
      pass: c.pass,
      measured: c.measured,
      threshold: c.threshold,
      detail: c.detail,
    })),
    durationMs: m.duration_ms,
  };
}
