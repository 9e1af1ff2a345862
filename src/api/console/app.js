/**
 * The Lazarus web console, read from this node's REST API; plain ES modules, no build step.
 *
 * Pages, by the URL's hash: `#/?service=…&status=…` the event list (list.js), `#/events/<id>` one
 * event's trace (detail.js). The header shows the cluster (`GET /v1/cluster`) and, when the node
 * protects reads, a field for the API token.
 */

/* global document, location, window, setInterval */
import { UNAUTHORIZED_EVENT, api, token } from './api.js';
import { arr, el, fmtMs, fmtTime, obj, replace, text } from './dom.js';
import { renderDetail } from './detail.js';
import { autoRefresh, loadList, onFirstPage, renderList } from './list.js';

const REFRESH_MS = 5000;

const main = /** @type {HTMLElement} */ (document.getElementById('main'));
const clusterBox = /** @type {HTMLElement} */ (document.getElementById('cluster'));
const authBox = /** @type {HTMLElement} */ (document.getElementById('auth'));

/** Bumped by every navigation: an answer for a page the user has left is dropped. */
let navigation = 0;

function parseHash() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const q = hash.indexOf('?');
  return {
    path: q < 0 ? hash : hash.slice(0, q),
    query: new URLSearchParams(q < 0 ? '' : hash.slice(q + 1)),
  };
}

function onDetail() {
  return parseHash().path.startsWith('/events/');
}

async function route() {
  const mine = ++navigation;
  const { path, query } = parseHash();
  if (onDetail()) {
    const encoded = path.slice('/events/'.length);
    let id = encoded;
    try {
      id = decodeURIComponent(encoded);
    } catch {
      // shown as it is; the API answers that it does not know it
    }
    await renderDetail(main, id, () => mine === navigation);
  } else {
    await renderList(main, query);
  }
}

async function loadCluster() {
  /** @type {import('./types.js').ClusterView} */
  let c;
  try {
    c = /** @type {import('./types.js').ClusterView} */ (await api('/v1/cluster'));
  } catch (error) {
    const code = error instanceof Error && 'code' in error ? String(error.code) : String(error);
    replace(clusterBox, el('span', { class: 'muted' }, `cluster: ${code}`));
    return;
  }
  const breaker = obj(c.breaker);
  replace(
    clusterBox,
    el('span', { class: 'region' }, text(c.region)),
    arr(c.nodes)
      .map(obj)
      .map((n) =>
        el(
          'span',
          {
            class: `chip ${n.state === 'up' ? 'up' : 'down'}`,
            'data-testid': 'cluster-node',
            'data-node': n.id,
            'data-state': n.state,
            title: `last heartbeat ${fmtTime(n.last_heartbeat)}; shards: ${arr(n.shards).join(', ') || 'none'}`,
          },
          `${text(n.id)} · ${text(n.zone)} · ${text(n.state)}`,
          n.id !== undefined && n.id === c.self ? ' (this node)' : '',
        ),
      ),
    el(
      'span',
      { class: `chip ${c.has_quorum ? 'up' : 'down'}` },
      `quorum ${text(c.quorum)}: ${text(c.nodes_up)} up`,
    ),
    el(
      'span',
      {
        class: `chip ${breaker.state === 'open' ? 'down' : 'up'}`,
        'data-testid': 'breaker',
        title: `${text(breaker.services)} failing service(s) in ${fmtMs(breaker.window_ms)}; opens over ${text(breaker.threshold)}`,
      },
      `breaker ${text(breaker.state)}`,
    ),
  );
}

/** The token field (after a 401), or a way to forget the token in use. @param {string} [reason] */
function renderAuth(reason) {
  const forget = () => {
    token.set('');
    renderAuth();
    void route();
  };
  if (reason === undefined) {
    replace(
      authBox,
      token.get()
        ? [
            el('span', { class: 'muted' }, 'token set · '),
            el('button', { type: 'button', class: 'link', onclick: forget }, 'forget'),
          ]
        : null,
    );
    return;
  }
  const input = el('input', {
    type: 'password',
    name: 'token',
    placeholder: 'API token',
    autocomplete: 'off',
    'data-testid': 'token',
  });
  const form = el(
    'form',
    { class: 'token' },
    el('span', { class: 'muted', title: reason }, 'Reads need a token:'),
    input,
    el('button', { type: 'submit' }, 'Use'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    token.set(input.value.trim());
    renderAuth();
    void loadCluster();
    void route();
  });
  replace(authBox, form);
}

/** Auto-refresh: the cluster header, and the list's first page (later pages hold still). */
function tick() {
  if (document.hidden || !autoRefresh()) return;
  void loadCluster();
  if (!onDetail() && onFirstPage()) void loadList({ quiet: true });
}

window.addEventListener('hashchange', () => void route());
window.addEventListener(UNAUTHORIZED_EVENT, (e) => {
  if (!authBox.querySelector('form')) renderAuth(e instanceof CustomEvent ? String(e.detail) : '');
});
renderAuth();
void loadCluster();
void route();
setInterval(tick, REFRESH_MS);
