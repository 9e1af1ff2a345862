import { throwIfAborted, abortedError } from './abort.js';
import type { ActionContext, ActionDefinition } from './definition.js';
import { durationInput } from './duration-input.js';
import { ActionError, ActionErrorCodes } from './errors.js';

const ACTION = 'http.request';

/** The run's fencing token (a decimal integer), on every call of a run that holds a lock. */
export const FENCING_TOKEN_HEADER = 'Lazarus-Fencing-Token';
/** The resource the token is for (`host:<service>/<host>`, `service:<service>`). */
export const LOCK_RESOURCE_HEADER = 'Lazarus-Lock-Resource';

/** @defaultValue the statuses of a call that did what it was asked */
const DEFAULT_EXPECT_STATUS: readonly number[] = [200, 201, 202, 204];
/** @defaultValue 30 s */
const DEFAULT_TIMEOUT_MS = 30_000;
/** Enough for any orchestrator answer; a larger body is a bug upstream and must not fill the run's state. */
const MAX_BODY_BYTES = 64 * 1024;
/** How much of an unexpected answer goes into the failure message (and from there into the page). */
const MESSAGE_BODY_CHARS = 300;

/** An HTTP call with a JSON body: how the orchestrator (boot host, load balancer, forensics) is reached. */
export const httpRequest: ActionDefinition = {
  name: ACTION,
  description: 'HTTP request with a JSON body; fails unless the status is one of expect_status.',
  inputs: {
    type: 'object',
    required: ['method', 'url'],
    additionalProperties: false,
    properties: {
      method: { type: 'string', enum: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] },
      url: { type: 'string' },
      headers: { type: 'object', additionalProperties: { type: 'string' } },
      body: {},
      expect_status: { type: 'array', items: { type: 'integer' } },
      timeout: { type: 'string' },
    },
  },
  outputs: {
    type: 'object',
    properties: { status: { type: 'integer' }, headers: { type: 'object' }, body: {} },
  },
  run: runHttpRequest,
};

async function runHttpRequest(
  inputs: Readonly<Record<string, unknown>>,
  context: ActionContext,
): Promise<Record<string, unknown>> {
  const method = inputs.method as string;
  const url = checkedUrl(inputs.url as string);
  const expectStatus = (inputs.expect_status as readonly number[] | undefined) ?? DEFAULT_EXPECT_STATUS;
  const timeoutMs = durationInput(ACTION, inputs, 'timeout', DEFAULT_TIMEOUT_MS);
  throwIfAborted(ACTION, context.signal);

  const headers = new Headers(inputs.headers as Record<string, string> | undefined);
  // The run's fencing token goes with every call; a step cannot send another one in its place.
  if (context.fence !== undefined) {
    headers.set(FENCING_TOKEN_HEADER, String(context.fence.token));
    headers.set(LOCK_RESOURCE_HEADER, context.fence.resource);
  }
  let body: string | undefined;
  if (inputs.body !== undefined) {
    body = JSON.stringify(inputs.body);
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
  }
  const timeout = AbortSignal.timeout(timeoutMs);
  // One signal for fetch and for reading the body: the step's abort or this call's own timeout.
  const signal = AbortSignal.any([context.signal, timeout]);

  let status: number;
  let responseHeaders: Record<string, string>;
  let text: string;
  try {
    const response = await fetch(url, { method, headers, signal, ...(body === undefined ? {} : { body }) });
    status = response.status;
    responseHeaders = Object.fromEntries(response.headers);
    text = await readCapped(response);
  } catch (error) {
    if (context.signal.aborted) throw abortedError(ACTION, context.signal);
    const target = `${method} ${url.href}`;
    if (timeout.aborted) {
      throw new ActionError(
        ActionErrorCodes.FAILED,
        `${ACTION} ${target}: no answer within ${timeoutMs} ms`,
        {
          retryable: true,
          cause: error,
        },
      );
    }
    // fetch reports refused, reset and DNS failures as a TypeError whose cause says which.
    const cause: unknown = error instanceof Error ? error.cause : undefined;
    const detail =
      cause instanceof Error ? cause.message : error instanceof Error ? error.message : String(error);
    throw new ActionError(ActionErrorCodes.FAILED, `${ACTION} ${target}: ${detail}`, {
      retryable: true,
      cause: error,
    });
  }

  if (!expectStatus.includes(status)) {
    throw new ActionError(
      ActionErrorCodes.FAILED,
      `${ACTION} ${method} ${url.href}: status ${status}, expected one of [${expectStatus.join(', ')}]: ${text.slice(0, MESSAGE_BODY_CHARS)}`,
      // The server is overloaded or broken for now: try again. A 4xx or a surprising 2xx/3xx is an
      // answer about the request itself, and the same request will get the same answer.
      { retryable: status >= 500 || status === 429 },
    );
  }
  return { status, headers: responseHeaders, body: parseBody(text, responseHeaders['content-type']) };
}

/** A URL fetch can use; anything else is a rendering mistake that no retry fixes. */
function checkedUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ActionError(ActionErrorCodes.BAD_INPUT, `${ACTION}: url ${JSON.stringify(text)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ActionError(
      ActionErrorCodes.BAD_INPUT,
      `${ACTION}: url ${JSON.stringify(text)} is not http(s)`,
    );
  }
  return url;
}

/** The body as text, at most `MAX_BODY_BYTES` of it; the rest is not downloaded. */
async function readCapped(response: Response): Promise<string> {
  if (response.body === null) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  const reader = response.body.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(Buffer.from(value));
    size += value.byteLength;
    if (size >= MAX_BODY_BYTES) {
      await reader.cancel();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES).toString('utf8');
}

/**
 * JSON when the response says so and it parses; otherwise the text. A body that claims JSON but
 * does not parse (or was cut at the cap) is kept as text rather than failing a call whose status
 * was the expected one: the step that reads a field from it fails with a clearer message.
 */
function parseBody(text: string, contentType: string | undefined): unknown {
  if (contentType === undefined || !/^application\/([\w.+-]+\+)?json\b/i.test(contentType.trim()))
    return text;
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
