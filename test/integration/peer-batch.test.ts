/**
 * Votes per batch over real gRPC (a PeerServer and PeerClient on loopback): the Evaluate calls a
 * coordinator asks in one moment go as one EvaluateBatch call, each vote streamed back as soon as it
 * is ready (a fast event never waits for a slow one), an event that cannot be evaluated fails alone,
 * an event no longer waited for is let go alone; a single event goes as Evaluate; a peer of an older
 * release (no EvaluateBatch: UNIMPLEMENTED) is asked one event at a time, and the votes still come.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { LzError } from '../../src/common/errors.js';
import { PeerClient } from '../../src/cluster/peer-client.js';
import { PeerServer } from '../../src/cluster/peer-server.js';
import { peerService } from '../../src/cluster/proto.js';
import type { EvaluateRequestMessage, VoteMessage } from '../../src/cluster/proto.js';
import { freePort } from '../../src/sim/ports.js';

const vote = (rule: string): VoteMessage => ({
  node_id: 'b',
  zone: 'z-b',
  pass: true,
  checks: [{ name: rule, pass: true, measured: '', threshold: '', detail: '' }],
  duration_ms: 1,
});

const ask = (rule: string): EvaluateRequestMessage => ({
  event_json: '{}',
  rule_id: rule,
  checks: [],
  coordinator: 'a',
});

/** Answers after the delay the rule id names (`slow`: until released), `bad` is invalid. */
function handlers(received: string[], release: Promise<void>) {
  return {
    evaluate: async (request: EvaluateRequestMessage): Promise<VoteMessage> => {
      if (request.rule_id === 'bad') throw new LzError('LZ_ERR_PEER_BAD_REQUEST', 'the event is not JSON');
      if (request.rule_id === 'slow') await release;
      // Never answers while the test runs.
      if (request.rule_id === 'hang') await new Promise(() => undefined);
      return vote(request.rule_id);
    },
    ping: () => ({ node_id: 'b', zone: 'z-b', state: 'running' }),
    received: (method: string, events?: number) => received.push(`${method}${events ? `:${events}` : ''}`),
  };
}

describe('votes per batch over gRPC', { timeout: 60_000 }, () => {
  const received: string[] = [];
  let releaseSlow: () => void = () => undefined;
  const slow = new Promise<void>((r) => (releaseSlow = r));
  let server: PeerServer;
  let client: PeerClient;

  before(async () => {
    const port = await freePort();
    ({ server } = await PeerServer.start(`127.0.0.1:${port}`, handlers(received, slow), { insecure: true }));
    client = new PeerClient('b', `127.0.0.1:${port}`);
  });
  after(async () => {
    releaseSlow();
    client?.close();
    await server?.stop(0);
  });

  test('one call for the moment; each vote as soon as it is ready; a bad event fails alone', async () => {
    received.length = 0;
    const order: string[] = [];
    const track = (name: string, p: Promise<VoteMessage>) =>
      p.then(
        (v) => {
          order.push(name);
          return v;
        },
        (e: Error) => {
          order.push(name);
          throw e;
        },
      );
    const slowOne = track('slow', client.evaluate(ask('slow'), 10_000));
    const fast = track('fast', client.evaluate(ask('fast'), 10_000));
    const bad = track('bad', client.evaluate(ask('bad'), 10_000));
    assert.equal((await fast).checks[0]?.name, 'fast');
    await assert.rejects(bad, /b \(127\.0\.0\.1:\d+\): INVALID_ARGUMENT: the event is not JSON/);
    assert.deepEqual([...order].sort(), ['bad', 'fast'], 'the fast and the bad answered first');
    assert.ok(!order.includes('slow'), 'the slow vote is still out');
    releaseSlow();
    assert.equal((await slowOne).checks[0]?.name, 'slow');
    assert.deepEqual(received, ['EvaluateBatch:3']);
  });

  test('a single event goes as Evaluate; one let go (aborted) fails alone', async () => {
    received.length = 0;
    assert.equal((await client.evaluate(ask('alone'), 5_000)).checks[0]?.name, 'alone');
    assert.deepEqual(received, ['Evaluate']);

    // Let go before it was sent: nothing is sent for it.
    received.length = 0;
    const early = new AbortController();
    const never = client.evaluate(ask('hang'), 10_000, early.signal);
    const alone = client.evaluate(ask('other'), 10_000);
    early.abort();
    await assert.rejects(never, /CANCELLED: no longer needed before it was sent/);
    assert.equal((await alone).checks[0]?.name, 'other');
    assert.deepEqual(received, ['Evaluate']);

    // Let go while its batch is out: it fails, the others of the batch still get their votes.
    received.length = 0;
    const hold = new AbortController();
    const stuck = client.evaluate(ask('hang'), 10_000, hold.signal);
    const other = client.evaluate(ask('other'), 10_000);
    await new Promise((r) => setImmediate(r));
    hold.abort();
    await assert.rejects(stuck, /CANCELLED/);
    assert.equal((await other).checks[0]?.name, 'other');
    assert.deepEqual(received, ['EvaluateBatch:2']);
  });

  test('a client closed with votes asked: each of them fails, none is left waiting', async () => {
    const port = Number(client.address.split(':')[1]);
    const closing = new PeerClient('b', `127.0.0.1:${port}`);
    const asked = [closing.evaluate(ask('p'), 5_000), closing.evaluate(ask('q'), 5_000)];
    closing.close();
    for (const one of asked) await assert.rejects(one, /b \(127\.0\.0\.1:\d+\): UNAVAILABLE|CANCELLED/);
  });

  test('a peer that refused a moment ago and listens now gets the vote (no fail-fast on the backoff)', async () => {
    const port = await freePort();
    const later = new PeerClient('b', `127.0.0.1:${port}`);
    const seen: string[] = [];
    try {
      // Nobody listens yet: the ping fails, and the channel backs off before trying again.
      await assert.rejects(later.ping('a', 1_000), /UNAVAILABLE/);
      const { server: up } = await PeerServer.start(`127.0.0.1:${port}`, handlers(seen, slow), {
        insecure: true,
      });
      try {
        // Asked at once, alone and in a batch: they wait for the connection within their deadline.
        assert.equal((await later.evaluate(ask('one'), 5_000)).checks[0]?.name, 'one');
        const both = await Promise.all([later.evaluate(ask('x'), 5_000), later.evaluate(ask('y'), 5_000)]);
        assert.deepEqual(
          both.map((v) => v.checks[0]?.name),
          ['x', 'y'],
        );
      } finally {
        await up.stop(0);
      }
    } finally {
      later.close();
    }
  });

  test('a peer without EvaluateBatch (an older release) is asked one event at a time', async () => {
    const asked: string[] = [];
    const old = new grpc.Server();
    // The protocol as it was: Evaluate and Ping only (grpc-js answers UNIMPLEMENTED for the rest).
    old.addService(peerService().service, {
      Evaluate: (
        call: grpc.ServerUnaryCall<EvaluateRequestMessage, VoteMessage>,
        callback: grpc.sendUnaryData<VoteMessage>,
      ) => {
        asked.push(call.request.rule_id);
        callback(null, vote(call.request.rule_id));
      },
      Ping: (_call: unknown, callback: grpc.sendUnaryData<unknown>) =>
        callback(null, { node_id: 'c', zone: 'z-c', state: 'running' }),
    });
    const port = await new Promise<number>((resolve, reject) =>
      old.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
        e === null ? resolve(p) : reject(e),
      ),
    );
    const toOld = new PeerClient('c', `127.0.0.1:${port}`);
    try {
      const votes = await Promise.all(['x', 'y', 'z'].map((r) => toOld.evaluate(ask(r), 5_000)));
      assert.deepEqual(
        votes.map((v) => v.checks[0]?.name),
        ['x', 'y', 'z'],
      );
      assert.deepEqual([...asked].sort(), ['x', 'y', 'z']);
      // From then on, straight to Evaluate.
      asked.length = 0;
      await Promise.all(['u', 'v'].map((r) => toOld.evaluate(ask(r), 5_000)));
      assert.deepEqual([...asked].sort(), ['u', 'v']);
    } finally {
      toOld.close();
      old.forceShutdown();
    }
  });
});
