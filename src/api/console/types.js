/**
 * The REST API's answers as the console reads them (JSDoc types only; nothing runs here). Every
 * field is optional on purpose: a node of an older or newer release may leave one out, and the page
 * must still draw. The server's own types are in `src/audit/summary.ts`, `src/records/decision.ts`,
 * `src/cluster/quorum.ts`, `src/workflow/types.ts` and `src/api/views.ts`.
 *
 * @typedef {{ code?: string, message?: string }} ApiErrorBody
 *
 * @typedef {{
 *   id?: string, time?: string, decided_at?: string, service?: string, host?: string,
 *   resource?: string, type?: string, decision?: string, reason?: string, rule?: string,
 *   coordinator?: string, latency_ms?: number, duplicate_of?: string, run?: string, message?: string
 * }} EventSummary
 *
 * @typedef {{ items?: EventSummary[], next?: string, scanned?: number, rejected_in_period?: number }} EventPage
 *
 * @typedef {{ name?: string, pass?: boolean, measured?: string, threshold?: string, detail?: string }} CheckEvidence
 * @typedef {{ node?: string, zone?: string, pass?: boolean, checks?: CheckEvidence[], durationMs?: number }} Vote
 * @typedef {{ node?: string, error?: string }} VoteFailure
 *
 * @typedef {{
 *   event_id?: string, decision?: string, reason?: string, reason_text?: string, service?: string,
 *   host?: string, event_type?: string, duplicate_of?: string, age_ms?: number, error?: string,
 *   rule?: { id?: string, name?: string, workflow?: string, lock?: string },
 *   gates?: {
 *     rate?: { allowed?: boolean, count?: number, threshold?: number, window_ms?: number },
 *     breaker?: { open?: boolean, services?: number, threshold?: number, window_ms?: number },
 *     remediated?: { event_id?: string, run_id?: string, started_at?: string, ended_at?: string, outcome?: string, window_ms?: number }
 *   },
 *   lock?: { resource?: string, owner?: string, token?: number, acquired?: boolean },
 *   quorum?: number, coordinator?: { node?: string, zone?: string },
 *   votes?: Vote[], failures?: VoteFailure[], late_votes?: Vote[], late_failures?: VoteFailure[],
 *   source?: { shard?: string, sequence?: string, sub_sequence?: number },
 *   submitted_by?: { via?: string, token?: string, node?: string },
 *   event_time?: string, arrived_at?: string, decided_at?: string, latency_ms?: number, vote_ms?: number,
 *   event?: { resource?: string }
 * }} DecisionRecord
 *
 * @typedef {{
 *   id?: string, phase?: string, status?: string, attempts?: number, started_at?: string,
 *   finished_at?: string, duration_ms?: number, inputs?: unknown, outputs?: unknown, error?: string
 * }} StepState
 *
 * @typedef {{
 *   id?: string, workflow?: string, status?: string, started_at?: string, finished_at?: string,
 *   deadline_at?: string, nodes?: string[], steps?: Record<string, StepState>,
 *   failure?: { step?: string, message?: string, reason?: string }
 * }} RunState
 *
 * @typedef {{
 *   at?: string, stage?: string, node?: string, ok?: boolean, title?: string,
 *   detail?: Record<string, unknown>, duration_ms?: number
 * }} TimelineEntry
 *
 * @typedef {{
 *   at?: string, node?: string, kind?: string, action?: string, ok?: boolean,
 *   latency_ms?: number, error?: string, detail?: unknown
 * }} AuditEntry
 *
 * @typedef {{
 *   shard?: string, sequence?: string, sub_sequence?: number, code?: string, message?: string,
 *   errors?: { path?: string, message?: string }[], size?: number, raw?: string, node?: string, at?: string
 * }} RejectedRecord
 *
 * @typedef {{
 *   decision?: DecisionRecord, run?: RunState | null, audit?: AuditEntry[], timeline?: TimelineEntry[],
 *   rejected?: RejectedRecord
 * }} EventDetail
 *
 * @typedef {{ name?: string }} ServiceView
 *
 * @typedef {{
 *   id?: string, zone?: string, state?: string, last_heartbeat?: string | null, shards?: string[]
 * }} NodeView
 *
 * @typedef {{
 *   region?: string, self?: string, quorum?: number, nodes_up?: number, has_quorum?: boolean,
 *   nodes?: NodeView[],
 *   breaker?: { state?: string, services?: number, threshold?: number, window_ms?: number }
 * }} ClusterView
 */

export {};
