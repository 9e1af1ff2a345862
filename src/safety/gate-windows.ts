/**
 * The gates' windows for one event in one round trip (gate-windows.lua): the fold of a repeated
 * report (dedup.ts), then, for a first report, its count in the service's rate window
 * (rate-limiter.ts) and in the regional breaker window (circuit-breaker.ts), and the host's latest
 * remediation on record (remediations.ts). The same scripts as each gate's own, run as one.
 *
 * Fail safe: rejects with `LZ_ERR_DEPENDENCY_DOWN` when Redis cannot answer; the caller escalates
 * with `dependency_down` (a timed-out call may have counted the event: that errs towards suspending).
 */
import type { RedisClient } from '../common/redis.js';
import { viaRedis } from '../common/dependency.js';
import type { RedisKeys } from '../common/keys.js';
import { defineScripts, runScript, script } from '../common/lua.js';
import { requireInteger, requireName } from './arguments.js';
import { BREAKER_HISTORY_CAP, breakerVerdict, decodeBreakerReply } from './circuit-breaker.js';
import type { BreakerReply, BreakerVerdict } from './circuit-breaker.js';
import type { FoldResult } from './dedup.js';
import type { RateVerdict } from './rate-limiter.js';
import type { Remediation } from './remediations.js';

export type WindowsReply =
  | { readonly first: false; readonly owner: string }
  | {
      readonly first: true;
      readonly count: number;
      readonly breaker: BreakerReply;
      readonly remediated: string;
    };

/** The script's keys, in its order (a script that includes it passes them in this order too). */
export const WINDOW_KEYS = [
  'dedup',
  'rate',
  'breakerWindow',
  'breakerState',
  'breakerHistory',
  'remediated',
] as const;
export type WindowKey = (typeof WINDOW_KEYS)[number];

/** gate-windows.lua's reply, or `undefined` for one it is not written to give. */
export function decodeWindowsReply(reply: unknown): WindowsReply | undefined {
  if (!Array.isArray(reply)) return undefined;
  const [first, ...rest] = reply as unknown[];
  if (first === 0 && rest.length === 1 && typeof rest[0] === 'string')
    return { first: false, owner: rest[0] };
  const [count, breaker, remediated] = rest;
  const decoded = decodeBreakerReply(breaker);
  if (first !== 1 || typeof count !== 'number' || count < 1 || decoded === undefined) return undefined;
  if (typeof remediated !== 'string') return undefined;
  return { first: true, count, breaker: decoded, remediated };
}

const WINDOWS = script('safety', 'gate-windows', WINDOW_KEYS, decodeWindowsReply);

/** The keys and arguments of gate-windows.lua for `w` (checked: a bad one throws). */
export function windowsCall(
  keys: RedisKeys,
  w: WindowsOf,
): { keys: Record<WindowKey, string>; args: (string | number)[] } {
  const resource = w.resource ?? '';
  requireName('service', w.service);
  requireName('eventId', w.eventId);
  requireName('resource', resource);
  requireName('type', w.type);
  requireInteger('nowMs', w.nowMs, 0);
  requireInteger('dedupWindowMs', w.dedupWindowMs, 1);
  requireInteger('rateWindowMs', w.rateWindowMs, 1);
  requireInteger('rateThreshold', w.rateThreshold, 0);
  requireInteger('breakerWindowMs', w.breakerWindowMs, 1);
  requireInteger('breakerThreshold', w.breakerThreshold, 0);
  return {
    keys: {
      dedup: keys.dedup(w.service, resource, w.type),
      rate: keys.rateWindow(w.service),
      breakerWindow: keys.breakerWindow,
      breakerState: keys.breakerState,
      breakerHistory: keys.breakerHistory,
      remediated: keys.remediated(w.service, resource),
    },
    args: [
      w.eventId,
      w.dedupWindowMs,
      w.nowMs,
      w.rateWindowMs,
      w.breakerWindowMs,
      w.breakerThreshold,
      BREAKER_HISTORY_CAP,
      w.service,
      w.resource === undefined ? '0' : '1',
    ],
  };
}

/** What the script's reply says of the event `w` describes. */
export function windowsVerdict(reply: WindowsReply, w: WindowsOf): Windows {
  // Folded into another event's decision (a redelivery of the first is counted, as the first).
  if (!reply.first) return { fold: { first: false, firstEventId: reply.owner } };
  return {
    fold: { first: true },
    rate: {
      allowed: reply.count <= w.rateThreshold,
      count: reply.count,
      threshold: w.rateThreshold,
      windowMs: w.rateWindowMs,
    },
    breaker: breakerVerdict(reply.breaker, w.breakerThreshold, w.breakerWindowMs),
    remediated: reply.remediated === '' ? undefined : (JSON.parse(reply.remediated) as Remediation),
  };
}

/** What one event's windows say. */
export type Windows =
  | { readonly fold: Extract<FoldResult, { first: false }> }
  | {
      readonly fold: Extract<FoldResult, { first: true }>;
      readonly rate: RateVerdict;
      readonly breaker: BreakerVerdict;
      /** The latest remediation of the event's host (or resource) on record, if any. */
      readonly remediated: Remediation | undefined;
    };

export interface WindowsOf {
  readonly service: string;
  readonly eventId: string;
  /** The host or resource the event is about; `undefined`: it names none (no remediation to read). */
  readonly resource: string | undefined;
  /** The fold's type (the event's type and data fingerprint). */
  readonly type: string;
  readonly nowMs: number;
  readonly dedupWindowMs: number;
  readonly rateWindowMs: number;
  readonly rateThreshold: number;
  readonly breakerWindowMs: number;
  readonly breakerThreshold: number;
}

export class GateWindows {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {
    defineScripts(redis, [WINDOWS]);
  }

  /** Folds the event, or counts it in both windows and reads its host's remediation record. */
  async count(w: WindowsOf): Promise<Windows> {
    const call = windowsCall(this.keys, w);
    const reply = await viaRedis('gate windows', () => runScript(this.redis, WINDOWS, call.keys, call.args));
    return windowsVerdict(reply, w);
  }
}
