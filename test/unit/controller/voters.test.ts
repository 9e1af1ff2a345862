/**
 * What a coordinator sends its peers for a vote: the event without the REST API's stamp of who
 * submitted it. The checks do not look at it, and a peer of the release before the stamp (a rolling
 * upgrade) would refuse the field and not vote.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import type { PeerClient } from '../../../src/cluster/peer-client.js';
import type { EvaluateRequestMessage, VoteMessage } from '../../../src/cluster/proto.js';
import { configDir } from '../../../src/common/package-root.js';
import { loadConfigOrThrow } from '../../../src/config/load.js';
import { defaultCatalog } from '../../../src/controller/catalog.js';
import type { Evaluator } from '../../../src/controller/evaluator.js';
import { checksOf, clusterVoters } from '../../../src/controller/voters.js';
import { parseEvent } from '../../../src/events/parse.js';
import { Metrics } from '../../../src/metrics/metrics.js';

test('the event a peer is asked to vote on leaves out submitted_by, and nothing else', async () => {
  const config = await loadConfigOrThrow(configDir(undefined), defaultCatalog());
  const rule = config.services.get('sms-api')?.rules[0];
  assert.ok(rule !== undefined);
  const asked: EvaluateRequestMessage[] = [];
  const peer = {
    nodeId: 'b',
    evaluate: (request: EvaluateRequestMessage): Promise<VoteMessage> => {
      asked.push(request);
      return Promise.resolve({ node_id: 'b', zone: 'local-1b', pass: true, checks: [], duration_ms: 1 });
    },
  } as unknown as PeerClient;
  const self = config.region.nodes.find((n) => n.id === 'a');
  assert.ok(self !== undefined);
  const voters = clusterVoters(self, {} as Evaluator, [peer], 1000, new Metrics({ defaultMetrics: false }));
  const parsed = parseEvent(
    JSON.stringify({
      id: 'ev-1',
      type: 'NagiosHostAlarm',
      source: 'nagios',
      time: '2026-11-22T03:00:00Z',
      environment: 'prod',
      service: 'sms-api',
      host: 'sms-api-3',
      data: { host_state: 'DOWN', host_state_type: 'HARD' },
      submitted_by: { via: 'api', token: 'nagios', node: 'a' },
    }),
  );
  assert.ok(parsed.ok);
  const [, toPeer] = voters(parsed.event, rule, checksOf(rule));
  assert.ok(toPeer !== undefined);
  const vote = await toPeer.vote(new AbortController().signal);
  assert.equal(vote.node, 'b');
  assert.equal(asked.length, 1);
  const { submitted_by: _stamp, ...judged } = parsed.event;
  assert.deepEqual(JSON.parse(asked[0]?.event_json ?? ''), judged);
});
