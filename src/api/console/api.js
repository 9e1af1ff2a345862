/**
 * Reads of this node's REST API. Errors come back as `{"error": {"code", "message"}}`; a 401 (the
 * node protects reads) also tells the page to ask for a token, kept for the tab in sessionStorage.
 */

/* global sessionStorage, fetch, window */
import { el, isObject } from './dom.js';

const TOKEN_KEY = 'lazarus.token';
/** Sent on `window` when the API answers 401; the header then shows the token field. */
export const UNAUTHORIZED_EVENT = 'lazarus:unauthorized';

export const token = {
  /** @returns {string | null} */
  get: () => sessionStorage.getItem(TOKEN_KEY),
  /** @param {string} value */
  set: (value) => {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

export class ApiFailure extends Error {
  /** @param {number} status HTTP status; 0 when the node did not answer @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * GETs an API path; rejects with an {@link ApiFailure} with the API's error code.
 * @param {string} path
 * @returns {Promise<unknown>}
 */
export async function api(path) {
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json' };
  const bearer = token.get();
  if (bearer) headers['Authorization'] = `Bearer ${bearer}`;
  let res;
  try {
    res = await fetch(path, { headers, cache: 'no-store' });
  } catch (error) {
    throw new ApiFailure(0, 'NETWORK', `the node did not answer (${String(error)})`);
  }
  /** @type {unknown} */
  let body;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  if (res.ok) return body;
  /** @type {import('./types.js').ApiErrorBody} */
  const e = isObject(body) && isObject(body['error']) ? body['error'] : {};
  const failure = new ApiFailure(
    res.status,
    typeof e.code === 'string' ? e.code : `HTTP_${res.status}`,
    typeof e.message === 'string' ? e.message : res.statusText,
  );
  if (res.status === 401)
    window.dispatchEvent(new CustomEvent(UNAUTHORIZED_EVENT, { detail: failure.message }));
  throw failure;
}

/** A box saying what could not be done, and the API's error. @param {unknown} error @param {string} what */
export function errorBox(error, what) {
  const f = error instanceof ApiFailure ? error : new ApiFailure(0, 'ERROR', String(error));
  return el(
    'div',
    { class: 'error', role: 'alert', 'data-testid': 'error', 'data-code': f.code },
    el('strong', {}, `${what}: `),
    f.message,
    ' ',
    el('code', {}, f.code),
    f.status === 401 ? el('p', {}, 'Enter the API token in the field at the top right.') : null,
  );
}
