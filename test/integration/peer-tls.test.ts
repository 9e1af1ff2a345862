/**
 * Mutual TLS between the nodes, with real processes: node a of a region runs (its own process,
 * mutual TLS from the certificates the local stack made); the test plays everything else.
 * - Callers it must refuse: no client certificate, a certificate of another CA, a certificate of the
 *   region's CA that names no node of the region, and node b's certificate asking as coordinator c.
 * - Peers whose votes must never count: servers on b's and c's ports with passing votes, one with a
 *   certificate of the region's CA naming another node id, one with a certificate of another CA,
 *   and one with b's own certificate whose vote says it is c. With no real peer, a's decision is
 *   `no_quorum`, never `act`.
 * - Rotation: a's certificate replaced and SIGHUP sent; new connections see the new certificate,
 *   and a vote that a's peers ask of it while that happens still succeeds.
 */
import { strict as assert } from 'node:assert';
import { readFile, writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { issueNodeCertificate, writeRegionCertificates } from '../../src/cluster/certs.js';
import type { Pem } from '../../src/cluster/certs.js';
import { PeerClient } from '../../src/cluster/peer-client.js';
import { PeerServer } from '../../src/cluster/peer-server.js';
import { peerService } from '../../src/cluster/proto.js';
import * as grpc from '@grpc/grpc-js';
import type { VoteMessage } from '../../src/cluster/proto.js';
import { PeerIdentity } from '../../src/cluster/tls.js';
import type { DecisionRecord } from '../../src/records/decision.js';
import { LOCAL_FLEET } from '../../src/sim/fleet.js';
import { LocalStack } from '../../src/sim/local-stack.js';
import { ClusterProbe, hostDown } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

/** sms-api's hosts: a host-down event each, one after the other, until one has met the liar. */
const HOSTS = 40;

// The rate limit out of the way: a loop of host-down events must be judged by votes, not limited.
const SERVICES = `services:
  sms-api:
    profile: stateless
    parameters: { rate_limit_threshold: 10000 }
`;

const REGION = { thresholds: { vote_timeout: '2s' }, kinesis: { lease_ttl: '3s', poll_interval: '50ms' } };

describe('peers over mutual TLS', { timeout: 180_000 }, () => {
  let stack: LocalStack;
  let probe: ClusterProbe;
  let dir: string;
  let regionCa: Pem;
  const certs = (): string => join(stack.configDir, 'certs');

  /** An identity from PEM text written under the test's directory. */
  async function identity(name: string, nodeId: string, pem: Pem, ca: string): Promise<PeerIdentity> {
    const files = {
      ca: join(dir, `${name}-ca.pem`),
      cert: join(dir, `${name}.pem`),
      key: join(dir, `${name}-key.pem`),
    };
    await writeFile(files.ca, ca);
    await writeFile(files.cert, pem.cert);
    await writeFile(files.key, pem.key);
    return PeerIdentity.load(nodeId, files, [...stack.region.nodes.map((n) => n.id), nodeId]);
  }

  /** The decision of an event once a's own vote is on it (it may come after the decision, as a late vote). */
  function withOwnVote(eventId: string): Promise<DecisionRecord> {
    return waitFor(
      `the decision of ${eventId}, with a's own vote`,
      async () => {
        const d = await probe.decision(eventId);
        return d !== undefined && [...d.votes, ...(d.late_votes ?? [])].some((v) => v.node === 'a')
          ? d
          : undefined;
      },
      30_000,
    );
  }

  function nodeA(): { id: string; grpc: string } {
    const a = stack.region.nodes.find((n) => n.id === 'a');
    if (a === undefined) throw new Error('no node a');
    return a;
  }

  async function pingA(client: PeerClient, from: string): Promise<string> {
    try {
      return (await client.ping(from, 3000)).state;
    } catch (error) {
      return String(error);
    } finally {
      client.close();
    }
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lz-peer-tls-'));
    stack = await LocalStack.start({
      region: REGION,
      shards: 2,
      nodes: ['a'],
      services: SERVICES,
      // Hosts enough for the loop below to meet the liar however long a's channel backs off.
      fleet: { services: { ...LOCAL_FLEET.services, 'sms-api': HOSTS } },
    });
    probe = new ClusterProbe(stack);
    regionCa = {
      cert: await readFile(join(certs(), 'ca.pem'), 'utf8'),
      key: await readFile(join(stack.workDir, 'ca', 'ca-key.pem'), 'utf8'),
    };
  });
  after(async () => {
    await probe?.close();
    await stack?.stop();
    await stack?.remove();
    await rm(dir, { recursive: true, force: true });
  });

  test('node b (the region CA, its own id) is served; others are refused', async () => {
    const a = nodeA();
    const b = await stack.identityOf('b');
    assert.equal(await pingA(new PeerClient('a', a.grpc, b), 'b'), 'running');

    const insecure = await pingA(new PeerClient('a', a.grpc), 'b');
    assert.match(insecure, /UNAVAILABLE/, 'no client certificate: no connection');

    const other = await writeRegionCertificates(join(dir, 'other'), 'other', [{ id: 'b', grpc: a.grpc }]);
    assert.ok(other.length > 0);
    const foreign = await PeerIdentity.load('b', {
      ca: join(dir, 'other', 'ca.pem'),
      cert: join(dir, 'other', 'b.pem'),
      key: join(dir, 'other', 'b-key.pem'),
    });
    assert.match(
      await pingA(new PeerClient('a', a.grpc, foreign), 'b'),
      /UNAVAILABLE/,
      'another CA: no connection',
    );

    const stranger = await identity(
      'z',
      'z',
      issueNodeCertificate(regionCa, 'z', '127.0.0.1'),
      regionCa.cert,
    );
    assert.match(
      await pingA(new PeerClient('a', a.grpc, stranger), 'z'),
      /PERMISSION_DENIED: the client certificate names z, none of the region's nodes/,
    );

    // One certificate naming two nodes (b and a): refused as this node's own identity, and refused
    // as a caller ("one node each"), whichever it asks as.
    const twoNames = issueNodeCertificate(regionCa, 'b', 'a');
    await assert.rejects(
      identity('ba', 'b', twoNames, regionCa.cert),
      /must name node b and no other node of the region/,
    );
    const Peer = peerService();
    const raw = new Peer(
      a.grpc,
      grpc.credentials.createSsl(
        Buffer.from(regionCa.cert),
        Buffer.from(twoNames.key),
        Buffer.from(twoNames.cert),
      ),
      { 'grpc.ssl_target_name_override': 'a' },
    );
    try {
      const error = await new Promise<string>((resolve) => {
        (
          raw as unknown as {
            Ping: (r: object, m: grpc.Metadata, o: object, cb: (e: grpc.ServiceError | null) => void) => void;
          }
        ).Ping({ from: 'a' }, new grpc.Metadata(), { deadline: Date.now() + 3000 }, (e) =>
          resolve(e === null ? 'answered' : `${grpc.status[e.code]}: ${e.details}`),
        );
      });
      assert.match(error, /PERMISSION_DENIED: the client certificate names b and a: one node each/);
    } finally {
      raw.close();
    }

    // b's certificate, asking for a vote as coordinator c: refused before anything is evaluated.
    const client = new PeerClient('a', a.grpc, b);
    try {
      await assert.rejects(
        client.evaluate({ event_json: '{}', rule_id: 'x', checks: [], coordinator: 'c' }, 3000),
        /PERMISSION_DENIED: a request as coordinator c over node b's certificate/,
      );
      // In one EvaluateBatch, a single request as another coordinator refuses the whole call.
      const asked = ['b', 'c', 'b'].map((coordinator) =>
        client.evaluate({ event_json: '{}', rule_id: 'x', checks: [], coordinator }, 3000),
      );
      for (const one of asked)
        await assert.rejects(one, /PERMISSION_DENIED: a request as coordinator c over node b's certificate/);
    } finally {
      client.close();
    }
  });

  test('peers that are not who they say: none of their passing votes counts, the event is not acted on', async () => {
    const vote = (node: string): VoteMessage => ({
      node_id: node,
      zone: `zone-${node}`,
      pass: true,
      checks: [{ name: 'HostActive', pass: true, measured: 'forged', threshold: '', detail: 'forged' }],
      duration_ms: 1,
    });
    const address = (id: string): string => stack.region.nodes.find((n) => n.id === id)?.grpc ?? '';
    const nodes = stack.region.nodes.map((n) => n.id);
    // On b's port: the region's CA, but a certificate naming z (a may not take it for b).
    const asZ = await identity(
      'rogue-z',
      'z',
      issueNodeCertificate(regionCa, 'z', '127.0.0.1'),
      regionCa.cert,
    );
    // On c's port: c's own id, from another CA.
    await writeRegionCertificates(join(dir, 'rogue'), 'rogue', [{ id: 'c', grpc: address('c') }]);
    const foreignC = await PeerIdentity.load('c', {
      ca: join(dir, 'rogue', 'ca.pem'),
      cert: join(dir, 'rogue', 'c.pem'),
      key: join(dir, 'rogue', 'c-key.pem'),
    });
    const rogues = await Promise.all([
      PeerServer.start(
        address('b'),
        {
          evaluate: () => Promise.resolve(vote('b')),
          ping: () => ({ node_id: 'b', zone: 'z', state: 'running' }),
        },
        { identity: asZ, nodes },
      ),
      PeerServer.start(
        address('c'),
        {
          evaluate: () => Promise.resolve(vote('c')),
          ping: () => ({ node_id: 'c', zone: 'z', state: 'running' }),
        },
        { identity: foreignC, nodes },
      ),
    ]);
    try {
      stack.fleet.inject({ kind: 'host_down', host: 'sms-api-1' });
      const event = hostDown('sms-api', 'sms-api-1');
      await probe.put(event);
      const d = await withOwnVote(event.id);
      assert.notEqual(d.decision, 'act', JSON.stringify(d, null, 2));
      assert.equal(d.reason, 'no_quorum');
      // a's own vote may come after the decision (quorum was out of reach once both others failed).
      assert.deepEqual(
        [...d.votes, ...(d.late_votes ?? [])].map((v) => v.node),
        ['a'],
        "only a's own vote counts",
      );
      assert.deepEqual(d.failures.map((f) => f.node).sort(), ['b', 'c']);
    } finally {
      await Promise.all(rogues.map((r) => r.server.stop(0)));
      stack.fleet.clear();
    }

    // On b's port with b's real certificate, but voting as c: the vote counts for nobody.
    const b = await stack.identityOf('b');
    assert.ok(b !== undefined);
    const liar = await PeerServer.start(
      address('b'),
      {
        evaluate: () => Promise.resolve(vote('c')),
        ping: () => ({ node_id: 'b', zone: 'z', state: 'running' }),
      },
      { identity: b, nodes },
    );
    try {
      // a's channel to b may still be backing off from the server before; events until one has met
      // the liar (none may act, whatever it met).
      let met: DecisionRecord | undefined;
      for (let i = 2; i <= HOSTS && met === undefined; i++) {
        stack.fleet.inject({ kind: 'host_down', host: `sms-api-${i}` });
        const event = hostDown('sms-api', `sms-api-${i}`);
        await probe.put(event);
        const d = await withOwnVote(event.id);
        assert.notEqual(d.decision, 'act', JSON.stringify(d, null, 2));
        assert.deepEqual(
          [...d.votes, ...(d.late_votes ?? [])].map((v) => v.node),
          ['a'],
        );
        if (
          /b answered with a vote as c: not counted/.test(d.failures.find((f) => f.node === 'b')?.error ?? '')
        )
          met = d;
      }
      assert.ok(met !== undefined, 'an event met the peer voting as another node');
    } finally {
      await liar.server.stop(0);
      stack.fleet.clear();
    }
  });

  test("a's certificate rotated: SIGHUP, new connections get the new one, and its votes go on", async () => {
    const a = nodeA();
    const b = await stack.identityOf('b');
    assert.ok(b !== undefined);
    const serialOf = async (): Promise<string> => {
      const [ca, cert, key] = await Promise.all(
        ['ca.pem', 'b.pem', 'b-key.pem'].map((f) => readFile(join(certs(), f))),
      );
      const [host, port] = [
        a.grpc.slice(0, a.grpc.lastIndexOf(':')),
        Number(a.grpc.slice(a.grpc.lastIndexOf(':') + 1)),
      ];
      return new Promise((resolve, reject) => {
        const socket = connect({ host, port, ca, cert, key, servername: 'a', ALPNProtocols: ['h2'] }, () => {
          resolve(socket.getPeerCertificate().serialNumber);
          socket.end();
        });
        socket.on('error', reject);
      });
    };
    const before = await serialOf();
    // b keeps asking a for votes while a's certificate changes: every one must succeed.
    const asker = new PeerClient('a', a.grpc, b);
    let asking = true;
    const answers: string[] = [];
    const loop = (async () => {
      while (asking)
        answers.push(
          await asker.ping('b', 3000).then(
            (r) => r.state,
            (e: unknown) => String(e),
          ),
        );
    })();
    try {
      await waitFor(
        'b to be answered a few times',
        () => Promise.resolve(answers.length >= 5 ? true : undefined),
        10_000,
        20,
      );
      const fresh = issueNodeCertificate(regionCa, 'a', '127.0.0.1');
      await writeFile(join(certs(), 'a-key.pem'), fresh.key);
      await writeFile(join(certs(), 'a.pem'), fresh.cert);
      stack.nodes.get('a')?.child.kill('SIGHUP');
      const after_ = await waitFor(
        'new connections to get the new certificate',
        async () => {
          const serial = await serialOf();
          return serial === before ? undefined : serial;
        },
        20_000,
        100,
      );
      assert.notEqual(after_, before);
      const count = answers.length;
      await waitFor(
        'b to be answered again',
        () => Promise.resolve(answers.length >= count + 5 ? true : undefined),
        10_000,
        20,
      );
    } finally {
      asking = false;
      await loop;
      asker.close();
    }
    assert.ok(answers.length >= 10);
    assert.deepEqual(
      answers.filter((s) => s !== 'running'),
      [],
      'no call failed while the certificate changed',
    );
    // A new connection with the new certificate works too.
    assert.equal(await pingA(new PeerClient('a', a.grpc, b), 'b'), 'running');
  });
});
