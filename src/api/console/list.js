/**
 * The event list, newest first. Its filters live in the hash query (`#/?service=sms-api&status=act`)
 * so that a filtered view can be linked; the page cursors do not (a cursor is only good for the
 * filters it was made with, and "Older" is a walk, not a place).
 */

/* global document, location, localStorage */
import { api, errorBox } from './api.js';
import {
  ago,
  arr,
  badge,
  el,
  eventHref,
  fmtMs,
  fmtTime,
  localInput,
  ms,
  replace,
  text,
  timeEl,
} from './dom.js';

/** @typedef {import('./types.js').EventSummary} EventSummary */
/** @typedef {import('./types.js').EventPage} EventPage */

const STATUSES = ['act', 'escalate', 'duplicate', 'rejected'];
const REASONS = [
  'stale',
  'no_rule',
  'breaker_open',
  'rate_limited',
  'recently_remediated',
  'checks_failed',
  'no_quorum',
  'timeout',
  'lock_held',
  'unprocessable',
  'page_resolved',
  'dependency_down',
];
/** The relative ranges of "Decided", in ms; `since` is computed afresh at every load. */
/** @type {Record<string, number>} */
const RANGES = { '15m': 15 * 60_000, '1h': 3_600_000, '24h': 86_400_000 };
/** The hash query's names: the API's filters, and `range` (15m, 1h, 24h, custom). */
const FILTERS = ['service', 'status', 'reason', 'host', 'range', 'since', 'until'];
const COLUMNS = [
  'Decided',
  'Event',
  'Service',
  'Host',
  'Type',
  'Decision',
  'Reason',
  'Rule',
  'Run',
  'Node',
  'Latency',
];

const state = {
  /** The hash query the cursors belong to. */
  query: '',
  /** @type {(string | undefined)[]} the cursor of each page walked so far; the last one is shown */
  cursors: [undefined],
  /** Bumped by every load: a slow answer never overwrites a newer one. */
  generation: 0,
  /** @type {string[] | undefined} service names, read once */
  services: undefined,
};

/** The list's link with the filters it last had (the detail page's way back). */
export function listHref() {
  return state.query ? `#/?${state.query}` : '#/';
}

/** Whether the first page is shown (auto-refresh stops on later pages: the rows would move under the reader). */
export function onFirstPage() {
  return state.cursors.length === 1;
}

/** @param {URLSearchParams} query @returns {Record<string, string>} the known filters that are set */
function filtersOf(query) {
  /** @type {Record<string, string>} */
  const f = {};
  for (const name of FILTERS) {
    const v = query.get(name);
    if (v) f[name] = v;
  }
  return f;
}

/** The list of the rejected records of the shown period. */
function rejectedHref() {
  const f = filtersOf(new URLSearchParams(state.query));
  /** @type {Record<string, string>} */
  const period = { status: 'rejected' };
  for (const name of ['range', 'since', 'until']) if (f[name]) period[name] = f[name];
  return `#/?${new URLSearchParams(period).toString()}`;
}

/** Goes to the list with these filters (the hashchange draws it). @param {Record<string, string>} f */
function setFilters(f) {
  const q = new URLSearchParams();
  for (const name of FILTERS) if (f[name]) q.set(name, f[name]);
  const s = q.toString();
  location.hash = s ? `#/?${s}` : '#/';
}

/** The API query of the filters and a cursor. @param {Record<string, string>} f @param {string | undefined} cursor */
function apiQuery(f, cursor) {
  const q = new URLSearchParams();
  for (const name of ['service', 'status', 'reason', 'host']) if (f[name]) q.set(name, f[name]);
  const range = f['range'] === undefined ? undefined : RANGES[f['range']];
  if (range !== undefined) q.set('since', String(Date.now() - range));
  else {
    if (f['since']) q.set('since', f['since']);
    if (f['until']) q.set('until', f['until']);
  }
  if (cursor) q.set('cursor', cursor);
  return q.toString();
}

/** The options of a filter select: "any", then each value (the current one too, when unknown). @param {string[]} values @param {string | undefined} current */
function options(values, current) {
  const all = current && !values.includes(current) ? [...values, current] : values;
  return [
    el('option', { value: '' }, 'any'),
    all.map((v) => el('option', { value: v, selected: v === current }, v)),
  ];
}

/** @param {string} name @param {string} label @param {string[]} values @param {string | undefined} current */
function select(name, label, values, current) {
  return el(
    'label',
    {},
    label,
    el('select', { name, 'data-testid': `filter-${name}` }, options(values, current)),
  );
}

/**
 * Draws the list for the hash query: the filter form, then the first page (or the page it was on,
 * when the filters did not change, e.g. coming back from an event).
 * @param {HTMLElement} main
 * @param {URLSearchParams} query
 */
export async function renderList(main, query) {
  const f = filtersOf(query);
  const queryText = new URLSearchParams(f).toString();
  if (queryText !== state.query) {
    state.query = queryText;
    state.cursors = [undefined];
  }
  const custom = f['range'] === 'custom' || (!f['range'] && Boolean(f['since'] || f['until']));
  const form = el(
    'form',
    { class: 'filters', 'data-testid': 'filters' },
    select('service', 'Service', state.services ?? [], f['service']),
    select('status', 'Status', STATUSES, f['status']),
    select('reason', 'Reason', REASONS, f['reason']),
    el(
      'label',
      {},
      'Host',
      el('input', {
        name: 'host',
        type: 'search',
        value: f['host'] ?? '',
        placeholder: 'host or resource',
        'data-testid': 'filter-host',
      }),
    ),
    el(
      'label',
      {},
      'Decided',
      el(
        'select',
        { name: 'range', 'data-testid': 'filter-range' },
        el('option', { value: '' }, 'any time'),
        Object.keys(RANGES).map((r) => el('option', { value: r, selected: f['range'] === r }, `last ${r}`)),
        el('option', { value: 'custom', selected: custom }, 'between…'),
      ),
    ),
    custom
      ? [
          el(
            'label',
            {},
            'From',
            el('input', { name: 'since', type: 'datetime-local', value: localInput(f['since']) }),
          ),
          el(
            'label',
            {},
            'To',
            el('input', { name: 'until', type: 'datetime-local', value: localInput(f['until']) }),
          ),
        ]
      : null,
    el('button', { type: 'submit' }, 'Apply'),
    el('button', { type: 'button', class: 'link', onclick: () => setFilters({}) }, 'clear'),
  );
  const apply = () => {
    const data = new FormData(form);
    const field = (/** @type {string} */ name) => {
      const v = data.get(name);
      return typeof v === 'string' ? v.trim() : '';
    };
    /** @type {Record<string, string>} */
    const next = {};
    for (const name of ['service', 'status', 'reason', 'host', 'range']) next[name] = field(name);
    if (next['range'] === 'custom') {
      // datetime-local is local time without a zone; the hash keeps UTC so that a link means the same anywhere.
      for (const name of ['since', 'until']) {
        const t = ms(field(name));
        next[name] = Number.isNaN(t) ? '' : new Date(t).toISOString();
      }
    }
    setFilters(next);
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    apply();
  });
  // Selects apply at once; the text fields on Enter or when they lose focus.
  form.addEventListener('change', apply);

  const refresh = el('input', {
    type: 'checkbox',
    checked: autoRefresh(),
    'data-testid': 'auto-refresh',
    onchange: (e) => {
      const on = e.target instanceof HTMLInputElement && e.target.checked;
      localStorage.setItem('lazarus.autorefresh', on ? 'on' : 'off');
    },
  });
  replace(
    main,
    el('h1', {}, 'Events'),
    form,
    el(
      'div',
      { class: 'tools' },
      el(
        'label',
        { title: 'reload the newest events every 5 s (not on older pages)' },
        refresh,
        ' auto-refresh',
      ),
      el('span', { id: 'list-status', class: 'muted', 'data-testid': 'list-status' }),
    ),
    el('div', { id: 'list-body', 'data-testid': 'list-body' }),
  );
  if (state.services === undefined) void fillServices(form, f['service']);
  await loadList();
}

/** Whether auto-refresh is on (it is unless turned off in this browser). */
export function autoRefresh() {
  return localStorage.getItem('lazarus.autorefresh') !== 'off';
}

/** Fills the service select from `/v1/services`; the form works without it. @param {HTMLFormElement} form @param {string | undefined} current */
async function fillServices(form, current) {
  try {
    const body = /** @type {{ services?: import('./types.js').ServiceView[] }} */ (await api('/v1/services'));
    state.services = arr(body.services).map((s) => String(s.name));
  } catch {
    return; // the list shows the API's error itself
  }
  const sel = form.querySelector('select[name=service]');
  if (sel === null || !form.isConnected) return;
  replace(sel, options(state.services, current));
}

/** Loads the shown page into `#list-body`. @param {{ quiet?: boolean }} [opts] quiet: an auto-refresh */
export async function loadList(opts = {}) {
  const body = document.getElementById('list-body');
  const status = document.getElementById('list-status');
  if (body === null || status === null) return;
  const generation = ++state.generation;
  const page = state.cursors.length - 1;
  if (!opts.quiet) status.textContent = 'loading…';
  /** @type {EventPage} */
  let data;
  try {
    data = /** @type {EventPage} */ (
      await api(`/v1/events?${apiQuery(filtersOf(new URLSearchParams(state.query)), state.cursors[page])}`)
    );
  } catch (error) {
    if (generation !== state.generation) return;
    status.textContent = '';
    replace(body, errorBox(error, 'The events could not be listed'));
    return;
  }
  if (generation !== state.generation || !body.isConnected) return;
  const items = arr(data.items);
  const next = typeof data.next === 'string' ? data.next : undefined;
  status.textContent = `page ${page + 1} · ${items.length} shown · ${text(data.scanned)} scanned · at ${fmtTime(Date.now())}`;
  const pager = el(
    'div',
    { class: 'pager' },
    page > 0
      ? [
          el('button', { type: 'button', 'data-testid': 'newest', onclick: () => goTo(0) }, '« Newest'),
          el('button', { type: 'button', 'data-testid': 'newer', onclick: () => goTo(page - 1) }, '‹ Newer'),
        ]
      : null,
    next
      ? el(
          'button',
          { type: 'button', 'data-testid': 'older', onclick: () => goTo(page + 1, next) },
          'Older ›',
        )
      : el('span', { class: 'muted' }, items.length > 0 || page > 0 ? 'no older events' : ''),
  );
  // The default view says how many records were rejected in its period: not zero is worth a look.
  const rejected = typeof data.rejected_in_period === 'number' ? data.rejected_in_period : 0;
  const notice =
    rejected > 0
      ? el(
          'p',
          { class: 'notice', 'data-testid': 'rejected-notice' },
          `${rejected} record${rejected === 1 ? ' was' : 's were'} rejected in this period (not events, or sensors' alerts that could not be mapped): `,
          el('a', { href: rejectedHref(), 'data-testid': 'show-rejected' }, 'show them'),
        )
      : null;
  if (items.length === 0) {
    // A filter that matches rarely may leave a page empty with more history behind it.
    const why = next
      ? 'No matching events on this page, but older entries are left to look through: press Older.'
      : state.query
        ? 'No events match these filters.'
        : 'No events yet.';
    replace(body, notice, el('p', { class: 'empty', 'data-testid': 'empty' }, why), pager);
    return;
  }
  replace(
    body,
    notice,
    el(
      'table',
      { class: 'events', 'data-testid': 'events' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          COLUMNS.map((h) => el('th', {}, h)),
        ),
      ),
      el('tbody', {}, items.map(row)),
    ),
    pager,
  );
}

/** Shows page `page` (0: the newest); `cursor` when going one page older. @param {number} page @param {string} [cursor] */
function goTo(page, cursor) {
  state.cursors = state.cursors.slice(0, page + 1);
  if (cursor !== undefined) state.cursors.push(cursor);
  void loadList();
}

/** @param {EventSummary} e */
function row(e) {
  const id = String(e.id ?? '');
  const reason =
    e.decision === 'duplicate' && e.duplicate_of
      ? el('span', {}, 'of ', el('a', { href: eventHref(e.duplicate_of) }, e.duplicate_of))
      : el('span', { title: e.message }, text(e.reason));
  const tr = el(
    'tr',
    {
      'data-testid': 'event-row',
      'data-id': id,
      'data-decision': e.decision,
      'data-service': e.service,
      'data-reason': e.reason,
    },
    el(
      'td',
      { class: 'nowrap' },
      timeEl(e.decided_at),
      el('div', { class: 'muted small' }, ago(e.decided_at)),
    ),
    el('td', { class: 'id' }, el('a', { href: eventHref(id), title: id, 'data-testid': 'event-link' }, id)),
    el('td', {}, text(e.service)),
    el('td', {}, text(e.host ?? e.resource)),
    el('td', {}, text(e.type)),
    el('td', {}, badge(e.decision)),
    el('td', {}, reason),
    el('td', {}, text(e.rule)),
    el('td', {}, e.run ? badge(e.run) : '—'),
    el('td', {}, text(e.coordinator)),
    el('td', { class: 'num' }, fmtMs(e.latency_ms)),
  );
  // The whole row opens the event; links inside it keep their own target.
  tr.addEventListener('click', (ev) => {
    if (ev.target instanceof Element && ev.target.closest('a')) return;
    location.hash = eventHref(id);
  });
  return tr;
}
