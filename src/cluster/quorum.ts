/**
 * The 2-of-3 vote. Resolves as soon as the outcome is certain: `act` once `quorum` votes pass,
 * `escalate` as soon as quorum can no longer be reached, `timeout` at the deadline. The votes still
 * outstanding when the decision is made are not waited for (a third vote changes nothing), but they
 * keep running until the deadline and are reported through `late` for the record.
 *
 * Each peer's error is kept beside the votes (as node-redlock keeps each server's error).
 */

export interface CheckEvidence {
  readonly name: string;
  readonly pass: boolean;
  readonly measured: string;
  readonly threshold: string;
  readonly detail: string;
}

export interface Vote {
  readonly node: string;
  readonly zone: string;
  readonly pass: boolean;
  readonly checks: readonly CheckEvidence[];
  readonly durationMs: number;
}

export interface VoteFailure {
  readonly node: string;
  readonly error: string;
}

export type QuorumReason = 'checks_failed' | 'no_quorum' | 'timeout';

export interface QuorumOutcome {
  readonly decision: 'act' | 'escalate';
  readonly reason?: QuorumReason;
  /** Votes received before the decision, in arrival order. */
  readonly votes: readonly Vote[];
  /** Voters that could not vote (unreachable, error, deadline). */
  readonly failures: readonly VoteFailure[];
  /** Voters still out when the decision was made. */
  readonly pending: readonly string[];
  readonly elapsedMs: number;
  /** Settles at the latest at the deadline with what the pending voters answered. */
  readonly late: Promise<{ votes: Vote[]; failures: VoteFailure[] }>;
}

export interface Voter {
  readonly node: string;
  vote(signal: AbortSignal): Promise<Vote>;
}

export function collectVotes(
  voters: readonly Voter[],
  quorum: number,
  deadlineMs: number,
): Promise<QuorumOutcome> {
  const started = performance.now();
  const votes: Vote[] = [];
  const failures: VoteFailure[] = [];
  const lateVotes: Vote[] = [];
  const lateFailures: VoteFailure[] = [];
  const abort = new AbortController();
  let decided = false;
  let settledCount = 0;
  let resolveLate!: (v: { votes: Vote[]; failures: VoteFailure[] }) => void;
  const late = new Promise<{ votes: Vote[]; failures: VoteFailure[] }>((r) => (resolveLate = r));

  return new Promise<QuorumOutcome>((resolve) => {
    const pendingNodes = new Set(voters.map((v) => v.node));
    const finish = (decision: 'act' | 'escalate', reason?: QuorumReason): void => {
      if (decided) return;
      decided = true;
      resolve({
        decision,
        ...(reason === undefined ? {} : { reason }),
        votes: [...votes],
        failures: [...failures],
        pending: [...pendingNodes],
        elapsedMs: Math.round(performance.now() - started),
        late,
      });
      if (pendingNodes.size === 0) resolveLate({ votes: lateVotes, failures: lateFailures });
    };
    const timer = setTimeout(() => {
      const missing = [...pendingNodes];
      for (const node of missing)
        (decided ? lateFailures : failures).push({ node, error: `no vote within ${deadlineMs} ms` });
      pendingNodes.clear();
      if (!decided) finish('escalate', 'timeout');
      abort.abort();
      resolveLate({ votes: lateVotes, failures: lateFailures });
    }, deadlineMs);

    const settle = (): void => {
      settledCount++;
      const passes = votes.filter((v) => v.pass).length;
      const fails = votes.length - passes;
      const stillPossible = passes + pendingNodes.size;
      if (passes >= quorum) finish('act');
      else if (stillPossible < quorum) {
        // Did the checks rule it out on their own, or did missing voters?
        finish('escalate', fails > voters.length - quorum ? 'checks_failed' : 'no_quorum');
      }
      if (settledCount === voters.length) {
        clearTimeout(timer);
        resolveLate({ votes: lateVotes, failures: lateFailures });
      }
    };

    if (voters.length === 0 || quorum > voters.length) {
      clearTimeout(timer);
      finish('escalate', 'no_quorum');
      resolveLate({ votes: [], failures: [] });
      return;
    }
    for (const voter of voters) {
      voter.vote(abort.signal).then(
        (vote) => {
          if (!pendingNodes.delete(voter.node)) return; // after the deadline
          (decided ? lateVotes : votes).push(vote);
          settle();
        },
        (error: unknown) => {
          if (!pendingNodes.delete(voter.node)) return;
          (decided ? lateFailures : failures).push({
            node: voter.node,
            error: error instanceof Error ? error.message : String(error),
          });
          settle();
        },
      );
    }
  });
}
