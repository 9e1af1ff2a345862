/**
 * Building the page, and formatting values for people. API data reaches the page only as text
 * nodes and attribute values (`el`, `text`): never as HTML, since every event field is written by a
 * sensor and may hold markup.
 */

/* global document */

/**
 * What `el` and `replace` take as children: nodes, text, numbers, arrays of these (nested as deep as
 * needed); `null`, `undefined` and `false` are skipped. (JSDoc cannot name the recursive type.)
 * @typedef {unknown} Child
 */
/** @typedef {string | number | boolean | null | undefined | ((event: Event) => void)} Attr */

/**
 * An element with attributes and children. `on<event>` attributes are listeners; `value`,
 * `checked` and `selected` set the property; `null`/`undefined`/`false` are left out; text stays text.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, Attr>} [attrs]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === 'function') node.addEventListener(name.slice(2), value);
    else if (name === 'value' || name === 'checked' || name === 'selected')
      Object.assign(node, { [name]: name === 'value' ? String(value) : true });
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

/** @param {Node} node @param {Child[]} children */
export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.appendChild(child instanceof Node ? child : document.createTextNode(asText(child)));
  }
}

/** Any value as text: strings as they are, numbers and booleans written out, anything else as JSON. @param {unknown} v */
function asText(v) {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v) ?? '';
}

/** Replaces an element's children. @param {Element} node @param {...Child} children */
export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
}

/** @param {unknown} v @returns {v is Record<string, unknown>} */
export function isObject(v) {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The array, or `[]` when the field is missing or not an array. @template T @param {readonly T[] | null | undefined} v @returns {readonly T[]} */
export function arr(v) {
  return Array.isArray(v) ? /** @type {readonly T[]} */ (v) : [];
}

/** The object, or `{}` when the field is missing or not an object. @template {object} T @param {T | null | undefined} v @returns {Partial<T>} */
export function obj(v) {
  return isObject(v) ? v : {};
}

/** @param {number} n */
function pad(n) {
  return String(n).padStart(2, '0');
}

/** @param {unknown} v @returns {number} epoch ms, or NaN */
export function ms(v) {
  return typeof v === 'string' || typeof v === 'number' ? new Date(v).getTime() : NaN;
}

/** Local time, `2026-11-22 06:36:45`; the text as it is when it is not a time. @param {unknown} iso */
export function fmtTime(iso) {
  const t = ms(iso);
  if (Number.isNaN(t)) return text(iso);
  const d = new Date(t);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

/** The value of a `datetime-local` input (local time) for a time. @param {unknown} iso */
export function localInput(iso) {
  const t = ms(iso);
  if (Number.isNaN(t)) return '';
  const d = new Date(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** `260 ms`, `2.1 s`, `3.5 min`, `2.0 h`. @param {unknown} v */
export function fmtMs(v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a < 1000) return `${Math.round(v)} ms`;
  if (a < 60_000) return `${(v / 1000).toFixed(1)} s`;
  if (a < 3_600_000) return `${(v / 60_000).toFixed(1)} min`;
  return `${(v / 3_600_000).toFixed(1)} h`;
}

/** `12 s ago`. @param {unknown} iso */
export function ago(iso) {
  const t = ms(iso);
  return Number.isNaN(t) ? '' : `${fmtMs(Math.max(0, Date.now() - t))} ago`;
}

/** A value as one line of text; `—` for nothing. @param {unknown} v */
export function text(v) {
  return v === undefined || v === null || v === '' ? '—' : asText(v);
}

/** A `<time>` in local time, with the stored text as its tooltip. @param {unknown} iso */
export function timeEl(iso) {
  return el('time', { datetime: typeof iso === 'string' ? iso : undefined, title: text(iso) }, fmtTime(iso));
}

/** ✓, ✗, or · when unknown. @param {unknown} ok */
export function mark(ok) {
  if (ok === true) return el('span', { class: 'ok', title: 'ok' }, '✓');
  if (ok === false) return el('span', { class: 'fail', title: 'failed' }, '✗');
  return el('span', { class: 'muted' }, '·');
}

/** A coloured label for a decision or a status. @param {unknown} status */
export function badge(status) {
  const s = typeof status === 'string' && status !== '' ? status : 'unknown';
  return el('span', { class: `badge b-${s.replace(/[^a-z_]/g, '')}` }, s);
}

/** A label/value list; rows without a value are left out. @param {[string, Child][]} rows */
export function facts(rows) {
  return el(
    'dl',
    { class: 'facts' },
    rows
      .filter(([, v]) => v !== undefined && v !== null && v !== '')
      .map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]),
  );
}

/** A collapsed JSON block. @param {string} label @param {unknown} value @param {string} [testid] */
export function jsonBlock(label, value, testid) {
  return el(
    'details',
    { class: 'json', 'data-testid': testid },
    el('summary', {}, label),
    el('pre', {}, JSON.stringify(value, null, 2)),
  );
}

/** @param {unknown} id */
export function eventHref(id) {
  return `#/events/${encodeURIComponent(String(id))}`;
}

/** A section of the detail page. @param {string} title @param {string} testid @param {...Child} content */
export function card(title, testid, ...content) {
  return el('section', { class: 'card', 'data-testid': testid }, el('h2', {}, title), content);
}
