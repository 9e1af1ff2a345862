/**
 * One event's trace (`GET /v1/events/<id>`): the decision and its reason, every node's vote with
 * each check's evidence, the gates and the lock, the timeline, the workflow run, the audit, and the
 * raw answer. A `rejected:…` id shows the rejected record: the error and its bytes as text.
 */

/* global atob */
import { api, errorBox } from './api.js';
import {
  arr,
  badge,
  card,
  el,
  eventHref,
  facts,
  fmtMs,
  isObject,
  jsonBlock,
  mark,
  ms,
  obj,
  replace,
  text,
  timeEl,
} from './dom.js';
import { listHref } from './list.js';
import { runCard } from './run.js';

/** @typedef {import('./types.js').DecisionRecord} DecisionRecord */
/** @typedef {import('./types.js').EventDetail} EventDetail */
/** @typedef {import('./types.js').Vote} Vote */

/**
 * @param {HTMLElement} main
 * @param {string} id
 * @param {() => boolean} current false once the user went elsewhere (the answer is then dropped)
 */
export async function renderDetail(main, id, current) {
  replace(main, back(), el('h1', {}, id), el('p', { class: 'muted' }, 'Loading…'));
  /** @type {EventDetail} */
  let body;
  try {
    body = /** @type {EventDetail} */ (await api(`/v1/events/${encodeURIComponent(id)}`));
  } catch (error) {
    if (current()) replace(main, back(), el('h1', {}, id), errorBox(error, 'The event could not be read'));
    return;
  }
  if (!current()) return;
  if (!isObject(body)) body = {};
  if (isObject(body.rejected)) {
    replace(main, back(), rejectedCard(body.rejected), jsonBlock('Raw JSON', body, 'raw-json'));
    return;
  }
  const d = obj(body.decision);
  const audit = arr(body.audit).filter((x) => isObject(x));
  replace(
    main,
    back(),
    headCard(d, id),
    card('Votes', 'votes', votes(d)),
    card('Gates and lock', 'gates', gates(d)),
    card('Timeline', 'timeline', timeline(arr(body.timeline))),
    runCard(body.run),
    audit.length > 0 ? card('Audit', 'audit', auditTable(audit)) : null,
    jsonBlock('Raw JSON', body, 'raw-json'),
  );
}

function back() {
  return el('p', {}, el('a', { href: listHref(), 'data-testid': 'back' }, '‹ Events'));
}

/** @param {Partial<DecisionRecord>} d @param {string} id */
function headCard(d, id) {
  const rule = obj(d.rule);
  const coordinator = obj(d.coordinator);
  const source = obj(d.source);
  return el(
    'section',
    { class: 'card head', 'data-testid': 'decision', 'data-decision': d.decision },
    el('h1', {}, el('span', { class: 'id' }, text(d.event_id ?? id)), ' ', badge(d.decision)),
    d.reason
      ? el(
          'p',
          { class: 'reason', 'data-testid': 'reason' },
          el('code', {}, d.reason),
          ': ',
          text(d.reason_text),
        )
      : null,
    d.error ? el('p', { class: 'error' }, text(d.error)) : null,
    facts([
      ['Service', d.service],
      ['Host', d.host ?? obj(d.event).resource],
      ['Type', d.event_type],
      [
        'Rule',
        rule.id ? `${rule.id} → workflow ${text(rule.workflow)} (lock: ${text(rule.lock)})` : undefined,
      ],
      [
        'Duplicate of',
        d.duplicate_of ? el('a', { href: eventHref(d.duplicate_of) }, d.duplicate_of) : undefined,
      ],
      ['Coordinator', coordinator.node ? `${coordinator.node} (${text(coordinator.zone)})` : undefined],
      ['Latency', d.latency_ms !== undefined ? `${fmtMs(d.latency_ms)} from arrival to decision` : undefined],
      ['Votes took', d.vote_ms !== undefined ? fmtMs(d.vote_ms) : undefined],
      ['Event time', d.event_time ? timeEl(d.event_time) : undefined],
      ['Arrived', d.arrived_at ? timeEl(d.arrived_at) : undefined],
      ['Decided', d.decided_at ? timeEl(d.decided_at) : undefined],
      ['Age when read', d.age_ms !== undefined ? fmtMs(d.age_ms) : undefined],
      [
        'Stream',
        source.shard
          ? `${source.shard} @ ${text(source.sequence)}${subText(source.sub_sequence)}`
          : undefined,
      ],
      ['Submitted', submitted(d.submitted_by)],
    ]),
  );
}

/**
 * Who put the event on the stream, as the record says (the timeline's words). A stamp in a record
 * put on the stream directly is what its producer wrote: the stream's writers are trusted.
 * @param {unknown} by
 */
function submitted(by) {
  if (!isObject(by)) return undefined;
  const via = typeof by.via === 'string' ? by.via : '';
  return el(
    'span',
    { 'data-testid': 'submitted', 'data-via': via },
    via === 'stream'
      ? 'directly to the stream, not through the REST API'
      : via === 'api'
        ? [
            'through node ',
            el('code', {}, text(by.node)),
            "'s REST API with token ",
            el('code', {}, text(by.token)),
          ]
        : JSON.stringify(by),
  );
}

/** One block per node that voted (late ones marked), then the nodes that could not vote. @param {Partial<DecisionRecord>} d */
function votes(d) {
  const onTime = arr(d.votes).filter((x) => isObject(x));
  const late = arr(d.late_votes).filter((x) => isObject(x));
  const failures = [
    ...arr(d.failures).map((f) => ({ f: obj(f), late: false })),
    ...arr(d.late_failures).map((f) => ({ f: obj(f), late: true })),
  ];
  const passing = onTime.filter((v) => v.pass === true).length;
  if (onTime.length + late.length + failures.length === 0)
    return el('p', { class: 'empty' }, 'No votes: the event was decided before the quorum step.');
  return [
    el(
      'p',
      { class: 'muted' },
      `quorum ${text(d.quorum)}: ${passing} passing of ${onTime.length} vote(s) before the decision` +
        (late.length > 0 ? `, ${late.length} after it` : ''),
    ),
    el(
      'div',
      { class: 'votes' },
      onTime.map((v) => voteBlock(v, false)),
      late.map((v) => voteBlock(v, true)),
    ),
    failures.length > 0
      ? el(
          'div',
          { class: 'failures' },
          el('h3', {}, 'Could not vote'),
          el(
            'ul',
            {},
            failures.map(({ f, late }) =>
              el(
                'li',
                { 'data-testid': 'vote-failure', 'data-node': f.node, 'data-late': String(late) },
                el('strong', {}, text(f.node)),
                late ? ' (after the decision)' : '',
                ': ',
                text(f.error),
              ),
            ),
          ),
        )
      : null,
  ];
}

/** @param {Vote} v @param {boolean} late */
function voteBlock(v, late) {
  return el(
    'div',
    {
      class: `vote ${v.pass ? 'pass' : 'nopass'}`,
      'data-testid': 'vote',
      'data-node': v.node,
      'data-pass': String(v.pass === true),
      'data-late': String(late),
    },
    el(
      'h3',
      {},
      `Node ${text(v.node)} `,
      el('span', { class: 'muted' }, `zone ${text(v.zone)} `),
      el('span', { class: v.pass ? 'ok' : 'fail' }, v.pass ? 'PASS' : 'FAIL'),
      late ? el('span', { class: 'chip' }, 'late: after the decision') : null,
      el('span', { class: 'muted small' }, ` ${fmtMs(v.durationMs)}`),
    ),
    el(
      'table',
      { class: 'checks' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ['', 'Check', 'Measured', 'Threshold', 'Detail'].map((h) => el('th', {}, h)),
        ),
      ),
      el(
        'tbody',
        {},
        arr(v.checks)
          .map(obj)
          .map((c) =>
            el(
              'tr',
              { 'data-testid': 'check', 'data-check': c.name, 'data-pass': String(c.pass === true) },
              el('td', {}, mark(c.pass)),
              el('td', {}, text(c.name)),
              el('td', {}, text(c.measured)),
              el('td', {}, text(c.threshold)),
              el('td', { class: 'detail' }, text(c.detail)),
            ),
          ),
      ),
    ),
  );
}

/** @param {Partial<DecisionRecord>} d */
function gates(d) {
  const { rate, breaker, remediated } = obj(d.gates);
  const lock = d.lock;
  if (!rate && !breaker && !lock && !remediated)
    return el('p', { class: 'empty' }, 'The event did not reach the safety gates.');
  return facts([
    [
      'Rate limit',
      rate
        ? el(
            'span',
            { 'data-testid': 'gate-rate' },
            mark(rate.allowed),
            ` ${text(rate.count)} event(s) of ${text(d.service)} in the last ${fmtMs(rate.window_ms)}; suspended over ${text(rate.threshold)}`,
          )
        : undefined,
    ],
    [
      'Circuit breaker',
      breaker
        ? el(
            'span',
            { 'data-testid': 'gate-breaker' },
            mark(breaker.open === undefined ? undefined : !breaker.open),
            ` ${breaker.open ? 'open' : 'closed'}: ${text(breaker.services)} failing service(s) in the last ${fmtMs(breaker.window_ms)}; opens over ${text(breaker.threshold)}`,
          )
        : undefined,
    ],
    [
      'Recently remediated',
      remediated
        ? el(
            'span',
            { 'data-testid': 'gate-remediated' },
            mark(false),
            ` by event ${text(remediated.event_id)} (${text(remediated.run_id)}, ${remediated.ended_at ? `${text(remediated.outcome)} at ${text(remediated.ended_at)}` : `running since ${text(remediated.started_at)}`}); not again within ${fmtMs(remediated.window_ms)} of its end`,
          )
        : undefined,
    ],
    [
      'Lock',
      lock
        ? el(
            'span',
            { 'data-testid': 'lock' },
            mark(lock.acquired),
            ` ${text(lock.resource)}: ${lock.acquired ? 'taken' : 'held'} by ${text(lock.owner)} (fencing token ${text(lock.token)})`,
          )
        : undefined,
    ],
  ]);
}

/** The trace in time order, timed from its first entry. @param {readonly import('./types.js').TimelineEntry[]} entries */
function timeline(entries) {
  const items = entries.filter((x) => isObject(x));
  if (items.length === 0)
    return el('p', { class: 'empty', 'data-testid': 'timeline-empty' }, 'No timeline in this answer.');
  const t0 = ms(items[0]?.at);
  return el(
    'ol',
    { class: 'timeline' },
    items.map((t) => {
      const offset = ms(t.at) - t0;
      return el(
        'li',
        {
          'data-testid': 'timeline-entry',
          'data-stage': t.stage,
          'data-ok': t.ok === undefined ? undefined : String(t.ok),
        },
        el('span', { class: 'rel num', title: text(t.at) }, Number.isNaN(offset) ? '' : `+${fmtMs(offset)}`),
        mark(t.ok),
        el('span', { class: 'stage' }, text(t.stage)),
        el('span', { class: 'muted' }, t.node ? `node ${t.node}` : ''),
        el('span', { class: 'title' }, text(t.title)),
        el('span', { class: 'muted num' }, t.duration_ms !== undefined ? fmtMs(t.duration_ms) : ''),
        isObject(t.detail) ? jsonBlock('detail', t.detail) : null,
      );
    }),
  );
}

/** @param {readonly import('./types.js').AuditEntry[]} entries */
function auditTable(entries) {
  return el(
    'table',
    { class: 'audit' },
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        ['At', 'Node', 'Kind', 'Action', '', 'Latency', 'Error'].map((h) => el('th', {}, h)),
      ),
    ),
    el(
      'tbody',
      {},
      entries.map((a) =>
        el(
          'tr',
          { 'data-testid': 'audit-entry', 'data-kind': a.kind },
          el('td', {}, timeEl(a.at)),
          el('td', {}, text(a.node)),
          el('td', {}, text(a.kind)),
          el('td', {}, text(a.action)),
          el('td', {}, mark(a.ok)),
          el('td', { class: 'num' }, fmtMs(a.latency_ms)),
          el('td', {}, a.error ? text(a.error) : ''),
        ),
      ),
    ),
  );
}

/** A record that was not an event: why, and its bytes. @param {import('./types.js').RejectedRecord} r */
function rejectedCard(r) {
  const raw = decodeRaw(r.raw);
  const size = typeof r.size === 'number' ? r.size : undefined;
  return el(
    'section',
    { class: 'card head', 'data-testid': 'rejected' },
    el('h1', {}, 'Rejected record ', badge('rejected')),
    el(
      'p',
      { class: 'reason', 'data-testid': 'reason' },
      el('code', {}, text(r.code)),
      ': ',
      text(r.message),
    ),
    arr(r.errors).length > 0
      ? el(
          'ul',
          {},
          arr(r.errors)
            .map(obj)
            .map((e) => el('li', {}, el('code', {}, text(e.path)), ' ', text(e.message))),
        )
      : null,
    facts([
      ['Stream', `${text(r.shard)} @ ${text(r.sequence)}${subText(r.sub_sequence)}`],
      ['Node', r.node],
      ['At', r.at ? timeEl(r.at) : undefined],
      [
        'Size',
        size === undefined
          ? undefined
          : `${size} bytes${raw.bytes < size ? `, the first ${raw.bytes} kept` : ''}`,
      ],
    ]),
    el('h2', {}, 'Raw bytes'),
    el('pre', { class: 'raw', 'data-testid': 'raw-bytes' }, raw.text),
  );
}

/**
 * Base64 to text to look at: bytes that are not UTF-8 become U+FFFD, control characters other than
 * newline and tab are shown as `\xNN` (the text is put in the page as text, never parsed).
 * @param {unknown} b64
 */
function decodeRaw(b64) {
  if (typeof b64 !== 'string') return { text: '(none)', bytes: 0 };
  let bytes;
  try {
    bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  } catch {
    return { text: `(not base64) ${b64}`, bytes: 0 };
  }
  const decoded = new TextDecoder('utf-8').decode(bytes);
  let shown = '';
  for (const c of decoded) {
    const code = c.codePointAt(0) ?? 0;
    const control = (code < 0x20 && c !== '\n' && c !== '\t') || code === 0x7f;
    shown += control ? `\\x${code.toString(16).padStart(2, '0')}` : c;
  }
  return { text: shown, bytes: bytes.length };
}

/**
 * Which user record of a KPL aggregated record it is, when it is one.
 * @param {unknown} sub
 */
function subText(sub) {
  return typeof sub === 'number' ? ` user record ${sub} (KPL aggregate)` : '';
}
