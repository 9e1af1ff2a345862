/**
 * The pager as its users see it (workflow actions, the notifier's PagerDuty channel): the calls,
 * by incident key. `PagerDutyPager` is the adapter; `RecordingPager` the stand-in for tests.
 */
/** The paging calls a workflow can make, by incident key. */
export interface PagerPort {
  acknowledge(incidentKey: string, signal: AbortSignal): Promise<{ incident_id: string; status: string }>;
  resolve(
    incidentKey: string,
    note: string | undefined,
    signal: AbortSignal,
  ): Promise<{ incident_id: string; status: string }>;
  escalate(
    incidentKey: string,
    reason: string,
    signal: AbortSignal,
  ): Promise<{ incident_id: string; escalation_level: number }>;
  note(incidentKey: string, content: string, signal: AbortSignal): Promise<{ note_id: string }>;
}
