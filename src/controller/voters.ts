/**
 * Step 6, the votes: this node's own vote and each peer's, over gRPC, on an event and the rule's
 * checks; `quorum` passing votes of the region's nodes, or the event escalates.
 */
import type { CheckToRun } from '../checks/evaluate.js';
import { collectVotes } from '../cluster/quorum.js';
import type { Voter } from '../cluster/quorum.js';
import type { PeerClient } from '../cluster/peer-client.js';
import type { ClusterNode, CompiledRule } from '../config/types.js';
import type { LzEvent } from '../events/schema.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Draft } from './draft.js';
import { fromVoteMessage, toCheckMessage } from './evaluator.js';
import type { Evaluator } from './evaluator.js';
import type { LateVotes } from './late-votes.js';

/** How much later than the vote's deadline a peer call's own gRPC deadline is. */
const GRPC_DEADLINE_MARGIN_MS = 500;

/** The voters of an event: this node's and each peer's. */
export type VotersOf = (event: LzEvent, rule: CompiledRule, checks: readonly CheckToRun[]) => Voter[];

/** The region's voters as a node sees them: its own evaluator, and each peer over gRPC. */
export function clusterVoters(
  self: ClusterNode,
  evaluator: Evaluator,
  peers: readonly PeerClient[],
  timeoutMs: number,
  metrics: Metrics,
): VotersOf {
  return (event, rule, checks) => {
    const local: Voter = { node: self.id, vote: () => evaluator.vote(event, checks) };
    // Without the API's stamp: the checks do not look at who submitted an event, and a peer of the
    // release before it (a rolling upgrade) would refuse the field it does not know, and not vote.
    const { submitted_by: _submitter, ...judged } = event;
    const request = {
      event_json: JSON.stringify(judged),
      rule_id: rule.id,
      checks: checks.map(toCheckMessage),
      coordinator: self.id,
    };
    return [
      local,
      ...peers.map((peer): Voter => ({
        node: peer.nodeId,
        vote: async (signal) => {
          try {
            // The vote's own deadline (collectVotes) decides and aborts the call; gRPC's comes a
            // moment later, only so that a call never outlives it.
            const vote = fromVoteMessage(
              await peer.evaluate(request, timeoutMs + GRPC_DEADLINE_MARGIN_MS, signal),
            );
            // A vote counts for the node it came from, never for another it names.
            if (vote.node !== peer.nodeId)
              throw new Error(`${peer.nodeId} answered with a vote as ${vote.node}: not counted`);
            return vote;
          } catch (error) {
            if (!signal.aborted) metrics.peerError(peer.nodeId);
            throw error;
          }
        },
      })),
    ];
  };
}

/** The rule's checks as the voters run them (thresholds resolved for the service). */
export function checksOf(rule: CompiledRule): CheckToRun[] {
  return rule.checks.map((c) => ({ name: c.name, threshold: c.threshold?.value, options: c.options }));
}

/**
 * Asks every voter; the draft says what they voted (`act` with `quorum` passes). Votes still out
 * at the decision are handed to `late`, to be added to the record once it is written.
 */
export async function castVotes(
  voters: VotersOf,
  event: LzEvent,
  rule: CompiledRule,
  base: Draft,
  options: { readonly quorum: number; readonly deadlineMs: number; readonly late: LateVotes },
): Promise<Draft> {
  const outcome = await collectVotes(voters(event, rule, checksOf(rule)), options.quorum, options.deadlineMs);
  if (outcome.pending.length > 0) options.late.expect(event.id, outcome.late);
  const { reason: _reason, ...rest } = base;
  return {
    ...rest,
    rule,
    decision: outcome.decision,
    ...(outcome.reason === undefined ? {} : { reason: outcome.reason }),
    votes: outcome.votes,
    failures: outcome.failures,
    voteMs: outcome.elapsedMs,
  };
}
