import { strict as assert } from 'node:assert';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { loadConfig } from '../../../src/config/load.js';
import { formatIssue } from '../../../src/config/source.js';
import type { ConfigIssue } from '../../../src/config/source.js';
import type { CompiledConfig } from '../../../src/config/types.js';
import { defaultCatalog } from '../../../src/controller/catalog.js';
import { REPO, copyConfig } from '../../helpers/config-copy.js';
import type { ConfigCopy } from '../../helpers/config-copy.js';

const catalog = defaultCatalog();

/** The sample rule of the Lazarus write-up, exactly as published (indentation restored). */
const SAMPLE_RULE = `name: nagios_host_down
description: rule for nagios host down event
criteria:
  environment: dev|stage|prod
  event_type: NagiosHostAlarm
  event_data:
    host_state: DOWN|UNREACHABLE
    host_state_type: HARD
checks:
  - checkName: MinActiveHosts
    default: 2
  - checkName: MaxActiveHosts
  - checkName: HealthCheckDown
action:
  name: default.replace_host
  inputs:
    notification_group: lazarus-orchestration
`;

async function loadShipped(): Promise<CompiledConfig> {
  const result = await loadConfig(join(REPO, 'deploy', 'local'), catalog);
  assert.ok(result.ok, result.ok ? '' : result.issues.map(formatIssue).join('\n'));
  return result.config;
}

/** Loads a copy of the shipped configuration with `edits` applied; it must fail. */
async function issuesAfter(edits: (copy: ConfigCopy) => Promise<void>): Promise<readonly ConfigIssue[]> {
  const copy = await copyConfig();
  try {
    await edits(copy);
    const result = await loadConfig(copy.dir, catalog);
    assert.equal(result.ok, false, 'the broken configuration loaded');
    return result.ok ? [] : result.issues;
  } finally {
    await copy.remove();
  }
}

/** Loads a copy of the shipped configuration with `edits` applied; it must load. */
async function loadAfter(edits: (copy: ConfigCopy) => Promise<void>): Promise<CompiledConfig> {
  const copy = await copyConfig();
  try {
    await edits(copy);
    const result = await loadConfig(copy.dir, catalog);
    assert.ok(result.ok, result.ok ? '' : result.issues.map(formatIssue).join('\n'));
    return result.config;
  } finally {
    await copy.remove();
  }
}

function find(issues: readonly ConfigIssue[], file: string, text: string | RegExp): ConfigIssue {
  const hit = issues.find(
    (i) =>
      i.file.endsWith(file) && (typeof text === 'string' ? i.message.includes(text) : text.test(i.message)),
  );
  assert.ok(hit, `no issue in ${file} matching ${String(text)}; got:\n${issues.map(formatIssue).join('\n')}`);
  return hit;
}

describe('shipped configuration', () => {
  let config: CompiledConfig;
  before(async () => {
    config = await loadShipped();
  });

  test('the sample rule is in rules/ byte for byte as the write-up gives it', async () => {
    assert.equal(await readFile(join(REPO, 'rules', 'nagios_host_down.yaml'), 'utf8'), SAMPLE_RULE);
  });

  test('the sample rule compiles for a stateless service with its criteria, checks, action and a host lock', () => {
    const rule = config.services.get('voice-gateway')?.rules.find((r) => r.name === 'nagios_host_down');
    assert.ok(rule);
    assert.deepEqual([...rule.criteria.environment!].sort(), ['dev', 'prod', 'stage']);
    assert.deepEqual([...rule.criteria.eventType], ['NagiosHostAlarm']);
    assert.deepEqual([...rule.criteria.eventData.get('host_state')!].sort(), ['DOWN', 'UNREACHABLE']);
    assert.deepEqual([...rule.criteria.eventData.get('host_state_type')!], ['HARD']);
    // HostActive comes first in every rule that does not place it itself: only the host in trouble.
    assert.deepEqual(
      rule.checks.map((c) => c.name),
      ['HostActive', 'MinActiveHosts', 'MaxActiveHosts', 'HealthCheckDown'],
    );
    assert.deepEqual(rule.action, {
      workflow: 'default.replace_host',
      inputs: { notification_group: 'lazarus-orchestration' },
    });
    assert.equal(rule.lock, 'host', 'a rule without lock takes a host lock');
  });

  test('every profile of the design is shipped and every service gets a compiled rule set', () => {
    assert.deepEqual([...config.profiles.keys()].sort(), [
      'cassandra',
      'elastic_search',
      'stateless',
      'stateless_with_standby_pivot',
    ]);
    assert.deepEqual(config.profiles.get('stateless')?.rules, [
      'nagios_host_down',
      'healthcheck_down',
      'aws_scheduled_event',
    ]);
    for (const service of config.services.values()) assert.ok(service.rules.length > 0, service.name);
    assert.equal(config.region.quorum, 2);
    assert.deepEqual(
      config.region.nodes.map((n) => n.zone),
      ['local-1a', 'local-1b', 'local-1c'],
    );
  });

  test('parameters resolve service override, then profile default, then the rule default, then built-in', () => {
    const sms = config.services.get('sms-api')!;
    const voice = config.services.get('voice-gateway')!;
    const search = config.services.get('search')!;
    const threshold = (service: typeof sms, rule: string, check: string) =>
      service.rules.find((r) => r.name === rule)?.checks.find((c) => c.name === check)?.threshold;

    // min_active_hosts: sms-api overrides it; stateless has no default, so voice-gateway gets the rule's.
    assert.deepEqual(threshold(sms, 'nagios_host_down', 'MinActiveHosts'), { value: 3, source: 'service' });
    assert.deepEqual(threshold(voice, 'nagios_host_down', 'MinActiveHosts'), { value: 2, source: 'rule' });
    // elastic_search sets min_active_hosts 3 in the profile, which beats its rule's own default.
    assert.deepEqual(threshold(search, 'elastic_search_node_down', 'MinActiveHosts'), {
      value: 3,
      source: 'profile',
    });
    assert.deepEqual(threshold(voice, 'nagios_host_down', 'MaxActiveHosts'), {
      value: 200,
      source: 'profile',
    });

    // workflow_timeout: search overrides 2h over its profile's 1h; sms-api keeps the profile's 30m.
    assert.equal(search.parameters.workflowTimeoutMs, 2 * 3_600_000);
    assert.deepEqual(search.parameters.values['workflow_timeout'], { value: '2h', source: 'service' });
    assert.equal(sms.parameters.workflowTimeoutMs, 30 * 60_000);
    assert.equal(config.services.get('ledger-db')?.parameters.mode, 'notify_only');
  });

  test('workflow steps come out in dependency order with their defaults compiled', () => {
    const wf = config.workflows.get('default.replace_host')!;
    const order = wf.steps.map((s) => s.id);
    for (const step of wf.steps) {
      for (const need of step.needs)
        assert.ok(order.indexOf(need) < order.indexOf(step.id), `${need} before ${step.id}`);
    }
    const boot = wf.steps.find((s) => s.id === 'boot')!;
    assert.equal(boot.idempotent, false);
    assert.equal(boot.timeoutMs, 600_000);
    assert.deepEqual(
      wf.onFailure.map((s) => s.id),
      ['escalate', 'tell_team'],
    );
  });

  test('the compiled configuration is frozen', () => {
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.region.nodes[0]));
    assert.throws(() => {
      (config.region as { quorum: number }).quorum = 1;
    }, TypeError);
  });
});

describe('rejections name the file, line and what is expected', () => {
  test('bad YAML', async () => {
    const issues = await issuesAfter((c) => c.edit('profiles/stateless.yaml', 'rules:\n', 'rules: [\n'));
    const issue = find(issues, 'profiles/stateless.yaml', 'YAML syntax');
    assert.ok(issue.line > 0);
  });

  test('unknown check, with the known ones listed', async () => {
    const issues = await issuesAfter((c) =>
      c.edit('rules/healthcheck_down.yaml', 'checkName: PeerCheck', 'checkName: PeerChek'),
    );
    const issue = find(issues, 'rules/healthcheck_down.yaml', 'unknown check "PeerChek"');
    assert.match(issue.message, /known checks: .*PeerCheck/);
    assert.equal(issue.path, '/checks/3/checkName');
    assert.equal(issue.line, 14);
  });

  test('an option a check does not take', async () => {
    const issues = await issuesAfter((c) =>
      c.edit(
        'rules/healthcheck_down.yaml',
        '  - checkName: PeerCheck\n',
        '  - checkName: PeerCheck\n    treshold: 2\n',
      ),
    );
    const issue = find(issues, 'rules/healthcheck_down.yaml', 'unknown key "treshold"');
    assert.equal(issue.path, '/checks/3/treshold');
  });

  test('a cycle in a workflow, shown as a path', async () => {
    const issues = await issuesAfter((c) =>
      c.edit('workflows/default.replace_host.yaml', 'needs: [lb_out]', 'needs: [lb_out, lb_in]'),
    );
    const issue = find(issues, 'workflows/default.replace_host.yaml', /cycle in steps: .*boot.*→.*lb_in/);
    assert.ok(issue.line > 1);
  });

  test('unknown needs and unknown action', async () => {
    const issues = await issuesAfter(async (c) => {
      await c.edit('workflows/default.pivot_to_standby.yaml', 'needs: [promote]', 'needs: [promotion]');
      await c.edit('workflows/default.pivot_to_standby.yaml', 'action: http.request', 'action: http.reqest');
    });
    find(issues, 'workflows/default.pivot_to_standby.yaml', 'needs "promotion", which is not a step');
    find(issues, 'workflows/default.pivot_to_standby.yaml', 'unknown action "http.reqest"');
  });

  test('templates that refer to nothing: a step not among the needs, an unknown output, an unknown event field', async () => {
    const issues = await issuesAfter(async (c) => {
      await c.edit(
        'workflows/default.replace_host.yaml',
        'host: "{{ steps.boot.outputs.body.host }}" }',
        'host: "{{ steps.forensics.outputs.body.host }}" }',
      );
      await c.edit(
        'workflows/default.replace_host.yaml',
        '"{{ steps.boot.outputs.body.health_url }}"',
        '"{{ steps.boot.outputs.health_url }}"',
      );
      await c.edit(
        'workflows/default.replace_host.yaml',
        'Replacing {{ event.host }}',
        'Replacing {{ event.hostname }}',
      );
    });
    find(issues, 'workflows/default.replace_host.yaml', 'step "forensics" is not among this step\'s needs');
    find(issues, 'workflows/default.replace_host.yaml', 'has no output "health_url"');
    find(issues, 'workflows/default.replace_host.yaml', 'events have no field "hostname"');
  });

  test('a rule that does not give an input its workflow uses', async () => {
    const issues = await issuesAfter((c) =>
      c.edit(
        'rules/healthcheck_down.yaml',
        'notification_group: lazarus-orchestration',
        'notify_group: lazarus-orchestration',
      ),
    );
    find(
      issues,
      'rules/healthcheck_down.yaml',
      /uses \{\{ rule.inputs.notification_group \}\} \(.*default.replace_host.yaml:\d+:\d+\)/,
    );
  });

  test('unknown workflow', async () => {
    const issues = await issuesAfter((c) =>
      c.edit('rules/cassandra_node_down.yaml', 'name: cassandra.replace_node', 'name: cassandra.replace'),
    );
    find(issues, 'rules/cassandra_node_down.yaml', 'unknown workflow "cassandra.replace"');
  });

  test('unknown profile parameter and a parameter of the wrong type', async () => {
    const issues = await issuesAfter(async (c) => {
      await c.edit('deploy/local/services.yaml', 'min_active_hosts: 3', 'min_active_host: 3');
      await c.edit('deploy/local/services.yaml', 'workflow_timeout: 2h', 'workflow_timeout: 2');
    });
    const unknown = find(issues, 'deploy/local/services.yaml', 'unknown key "min_active_host"');
    assert.match(unknown.message, /expected one of: .*min_active_hosts/);
    assert.deepEqual([unknown.line, unknown.col], [7, 7]);
    const wrong = find(issues, 'deploy/local/services.yaml', 'must be string, got number 2');
    assert.equal(wrong.path, '/services/search/parameters/workflow_timeout');
  });

  test('unknown profile', async () => {
    const issues = await issuesAfter((c) =>
      c.edit('deploy/local/services.yaml', 'profile: cassandra', 'profile: casandra'),
    );
    const issue = find(issues, 'deploy/local/services.yaml', 'unknown profile "casandra"');
    assert.match(issue.message, /profiles: cassandra, elastic_search/);
  });

  test('a profile naming an unknown rule; a name that does not match its file', async () => {
    const issues = await issuesAfter(async (c) => {
      await c.edit(
        'profiles/elastic_search.yaml',
        '  - elastic_search_node_down',
        '  - elastic_search_node_dead',
      );
      await c.edit('rules/aws_scheduled_event.yaml', 'name: aws_scheduled_event', 'name: aws_event');
    });
    find(issues, 'profiles/elastic_search.yaml', 'unknown rule "elastic_search_node_dead"');
    find(issues, 'rules/aws_scheduled_event.yaml', 'must match the file name');
  });

  test('region: quorum not a majority, two nodes in one zone, inventory without url', async () => {
    const issues = await issuesAfter(async (c) => {
      await c.edit('deploy/local/region.yaml', 'quorum: 2', 'quorum: 1');
      await c.edit('deploy/local/region.yaml', 'zone: local-1c', 'zone: local-1b');
      await c.edit('deploy/local/region.yaml', '  url: http://127.0.0.1:8300/v1/inventory\n', '');
    });
    find(issues, 'deploy/local/region.yaml', 'must be a majority');
    find(issues, 'deploy/local/region.yaml', 'zone "local-1b" is already used');
    find(issues, 'deploy/local/region.yaml', 'needs "url"');
  });

  test('region: redis modes, each with its own fields; replicas acknowledge locks where the mode has them', async () => {
    const shipped = await loadShipped();
    assert.deepEqual(shipped.region.redis, {
      mode: 'standalone',
      url: { url: 'redis://127.0.0.1:6379/0' },
      keyPrefix: 'lz:local-1:',
      replicaAck: { replicas: 0, timeoutMs: 250 },
    });
    const REDIS = '  url: redis://127.0.0.1:6379/0\n';
    const sentinel = await loadAfter((c) =>
      c.edit(
        'deploy/local/region.yaml',
        REDIS,
        '  mode: sentinel\n  sentinels: ["10.0.0.1:26379", "[::1]:26380"]\n  master: lz\n  password_env: LZ_REDIS_PASSWORD\n',
      ),
    );
    assert.deepEqual(sentinel.region.redis, {
      mode: 'sentinel',
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      master: 'lz',
      keyPrefix: 'lz:local-1:',
      passwordEnv: 'LZ_REDIS_PASSWORD',
      replicaAck: { replicas: 1, timeoutMs: 250 },
    });
    const cluster = await loadAfter((c) =>
      c.edit(
        'deploy/local/region.yaml',
        REDIS,
        '  mode: cluster\n  nodes: ["10.0.0.1:6379"]\n  replica_ack: { replicas: 0 }\n',
      ),
    );
    assert.deepEqual(cluster.region.redis.replicaAck, { replicas: 0, timeoutMs: 250 });
    const issues = await issuesAfter((c) =>
      c.edit(
        'deploy/local/region.yaml',
        REDIS,
        '  mode: cluster\n  url: redis://x:6379\n  sentinels: ["a:1"]\n  replica_ack: { timeout: 2s }\n',
      ),
    );
    find(issues, 'deploy/local/region.yaml', 'redis mode cluster needs "nodes"');
    const neither = await issuesAfter((c) => c.edit('deploy/local/region.yaml', REDIS, ''));
    find(neither, 'deploy/local/region.yaml', 'redis mode standalone needs "url" or "url_env" (one of them)');
    const fromEnv = await loadAfter((c) =>
      c.edit('deploy/local/region.yaml', REDIS, '  url_env: LZ_REDIS_URL\n'),
    );
    assert.deepEqual(fromEnv.region.redis.mode === 'standalone' && fromEnv.region.redis.url, {
      urlEnv: 'LZ_REDIS_URL',
    });
    find(issues, 'deploy/local/region.yaml', '"url" is for redis mode standalone, not cluster');
    find(issues, 'deploy/local/region.yaml', '"sentinels" is for redis mode sentinel, not cluster');
    find(issues, 'deploy/local/region.yaml', /timeout 2s must be between 1ms and 400ms/);
    const braces = await issuesAfter((c) =>
      c.edit('deploy/local/region.yaml', 'key_prefix: "lz:local-1:"', 'key_prefix: "{lz}"'),
    );
    assert.equal(find(braces, 'deploy/local/region.yaml', 'must match').path, '/redis/key_prefix');
  });

  test('region: paging, notifications, API and audit sections are checked and compiled', async () => {
    const config = await loadShipped();
    assert.deepEqual(config.region.pagerduty, {
      url: 'http://127.0.0.1:8400',
      tokenEnv: 'PAGERDUTY_TOKEN',
      from: 'lazarus@local.invalid',
      budgetMs: 50_000,
      incidentGraceMs: 10_000,
      requestsPerMinute: 960,
    });
    assert.deepEqual(config.region.api, { tokenEnv: 'LAZARUS_API_TOKEN', protectReads: false, tokens: [] });
    assert.deepEqual(config.region.audit, { retentionMs: 7 * 86_400_000, maxEvents: 100_000 });
    const issues = await issuesAfter(async (c) => {
      await c.edit('deploy/local/region.yaml', 'from: lazarus@local.invalid', 'from: lazarus');
      await c.edit('deploy/local/region.yaml', 'requests_per_minute: 960', 'requests_per_minute: 30');
      await c.edit('deploy/local/region.yaml', 'token_env: LAZARUS_API_TOKEN', 'token_env: lazarus-token');
      await c.edit('deploy/local/region.yaml', 'max_events: 100000', 'max_events: 10');
      await c.edit('deploy/local/region.yaml', 'slack_webhooks: {}', 'slack_webhooks: { "#ops": "ftp://x" }');
    });
    const from = find(issues, 'deploy/local/region.yaml', 'must match ^[^@');
    assert.equal(from.path, '/pagerduty/from');
    const rpm = find(issues, 'deploy/local/region.yaml', 'must be >= 60');
    assert.equal(rpm.path, '/pagerduty/requests_per_minute');
    assert.ok(
      issues.some((i) => i.path === '/api/token_env'),
      JSON.stringify(issues),
    );
    assert.ok(issues.some((i) => i.path === '/audit/max_events' && /100/.test(i.message)));
    assert.ok(issues.some((i) => i.path === '/notifications/slack_webhooks/#ops'));
    assert.ok(
      issues.every((i) => i.line > 0),
      'each issue has its line',
    );
  });

  test('region: api.tls paths are resolved from the configuration directory, {node} kept; a key is needed', async () => {
    let dir = '';
    const config = await loadAfter(async (c) => {
      dir = c.dir;
      await c.edit(
        'deploy/local/region.yaml',
        '  protect_reads: false\n',
        '  protect_reads: false\n  tls: { cert: "certs/{node}-api.pem", key: "/etc/lazarus/{node}-api-key.pem" }\n',
      );
    });
    assert.deepEqual(config.region.api.tls, {
      cert: join(dir, 'certs', '{node}-api.pem'),
      key: '/etc/lazarus/{node}-api-key.pem',
    });
    const fromEnv = await loadAfter((c) =>
      c.edit(
        'deploy/local/region.yaml',
        '  protect_reads: false\n',
        '  protect_reads: false\n  tls: { cert: "certs/{node}.pem", key_env: LAZARUS_API_TLS_KEY }\n',
      ),
    );
    assert.equal(fromEnv.region.api.tls?.keyEnv, 'LAZARUS_API_TLS_KEY');
    assert.equal(fromEnv.region.api.tls?.key, undefined);
    const issues = await issuesAfter((c) =>
      c.edit(
        'deploy/local/region.yaml',
        '  protect_reads: false\n',
        '  protect_reads: false\n  tls: { cert: "certs/{node}.pem", ca: certs/ca.pem }\n',
      ),
    );
    find(issues, 'deploy/local/region.yaml', 'unknown key "ca"');
    const noKey = await issuesAfter((c) =>
      c.edit(
        'deploy/local/region.yaml',
        '  protect_reads: false\n',
        '  protect_reads: false\n  tls: { cert: a.pem }\n',
      ),
    );
    assert.equal(find(noKey, 'deploy/local/region.yaml', 'api.tls needs key').path, '/api/tls');
  });

  test('a notification channel the region cannot deliver to is a load error at the line that names it', async () => {
    const issues = await issuesAfter(async (c) => {
      await c.edit(
        'deploy/local/services.yaml',
        'notification_channels: [pagerduty]',
        'notification_channels: ["slack:#sms-oncall", "email:sms-team@example.com", pagerduty]',
      );
      await c.edit('deploy/local/region.yaml', 'teams: {}', 'teams: { voice: ["slack:voice-oncall"] }');
      await c.edit('deploy/local/region.yaml', 'fallback: []', 'fallback: ["email:ops@example.com"]');
    });
    const slack = find(
      issues,
      'deploy/local/services.yaml',
      'Slack channel #sms-oncall has no incoming webhook',
    );
    assert.equal(slack.path, '/services/sms-api/parameters/notification_channels/0');
    assert.ok(slack.line > 0);
    const email = find(
      issues,
      'deploy/local/services.yaml',
      'email:sms-team@example.com needs an SMTP server',
    );
    assert.equal(email.path, '/services/sms-api/parameters/notification_channels/1');
    assert.equal(
      find(issues, 'deploy/local/region.yaml', 'Slack channel #voice-oncall').path,
      '/notifications/teams/voice/0',
    );
    assert.equal(
      find(issues, 'deploy/local/region.yaml', 'email:ops@example.com needs an SMTP server').path,
      '/notifications/fallback/0',
    );
    assert.equal(issues.length, 4, issues.map(formatIssue).join('\n'));

    // With the webhook (named with or without its #) and an SMTP server, the same channels load.
    const config = await loadAfter(async (c) => {
      await c.edit(
        'deploy/local/services.yaml',
        'notification_channels: [pagerduty]',
        'notification_channels: ["slack:sms-oncall", "email:sms-team@example.com", pagerduty]',
      );
      await c.edit(
        'deploy/local/region.yaml',
        'slack_webhooks: {}',
        'slack_webhooks: { "#sms-oncall": "http://127.0.0.1:9/hook" }\n  smtp: { host: 127.0.0.1, port: 2525, from: "Lazarus <lazarus@example.com>" }',
      );
    });
    assert.deepEqual(config.services.get('sms-api')?.parameters.notificationChannels, [
      'slack:sms-oncall',
      'email:sms-team@example.com',
      'pagerduty',
    ]);
  });

  test('region: an audit retention too short to keep dedup by event id is refused', async () => {
    // Shipped: max_event_age 5m + clock_skew_tolerance 30s + dedup_window 5m = 10m30s.
    const short = await issuesAfter((c) =>
      c.edit('deploy/local/region.yaml', 'retention: 7d', 'retention: 10m'),
    );
    const issue = find(short, 'deploy/local/region.yaml', 'shorter than 10m30s');
    assert.equal(issue.path, '/audit/retention');
    assert.ok(issue.line > 0);
    assert.match(issue.message, /max_event_age \+ clock_skew_tolerance \+ dedup_window/);
    assert.match(issue.message, /twice/);

    // The minimum follows the thresholds as configured.
    const longer = await issuesAfter(async (c) => {
      await c.edit('deploy/local/region.yaml', 'dedup_window: 5m', 'dedup_window: 1h');
      await c.edit('deploy/local/region.yaml', 'retention: 7d', 'retention: 1h');
    });
    assert.equal(find(longer, 'deploy/local/region.yaml', 'shorter than 1h5m30s').path, '/audit/retention');

    // The minimum itself, and 0s (keep for ever), load.
    const exact = await loadAfter((c) =>
      c.edit('deploy/local/region.yaml', 'retention: 7d', 'retention: 10m30s'),
    );
    assert.equal(exact.region.audit.retentionMs, 630_000);
    const forever = await loadAfter((c) =>
      c.edit('deploy/local/region.yaml', 'retention: 7d', 'retention: 0s'),
    );
    assert.equal(forever.region.audit.retentionMs, 0);
  });

  test('region: a PagerDuty budget over 55s is refused (PagerDuty escalates by itself at 60s)', async () => {
    const issues = await issuesAfter((c) => c.edit('deploy/local/region.yaml', 'budget: 50s', 'budget: 56s'));
    const issue = find(issues, 'deploy/local/region.yaml', 'more than 55s');
    assert.equal(issue.path, '/pagerduty/budget');
    assert.ok(issue.line > 0);
    assert.match(issue.message, /60s/);
    const longest = await loadAfter((c) => c.edit('deploy/local/region.yaml', 'budget: 50s', 'budget: 55s'));
    assert.equal(longest.region.pagerduty?.budgetMs, 55_000);
  });

  test('HostActive: a rule that places it keeps it where it is, once; reremediate_after is 1h unless set', async () => {
    const config = await loadAfter(async (c) => {
      await c.edit(
        'rules/healthcheck_down.yaml',
        '  - checkName: HealthCheckDown\n',
        '  - checkName: HealthCheckDown\n  - checkName: HostActive\n',
      );
      await c.edit(
        'deploy/local/services.yaml',
        'min_active_hosts: 3',
        'min_active_hosts: 3\n      reremediate_after: 2h',
      );
    });
    const sms = config.services.get('sms-api')!;
    assert.deepEqual(
      sms.rules.find((r) => r.name === 'healthcheck_down')?.checks.map((c) => c.name),
      ['MinActiveHosts', 'MaxActiveHosts', 'HealthCheckDown', 'HostActive', 'PeerCheck'],
    );
    assert.equal(sms.rules.find((r) => r.name === 'nagios_host_down')?.checks[0]?.name, 'HostActive');
    assert.equal(sms.parameters.reremediateAfterMs, 2 * 3_600_000);
    assert.equal(config.services.get('voice-gateway')?.parameters.reremediateAfterMs, 3_600_000);
    const issues = await issuesAfter((c) =>
      c.edit(
        'deploy/local/services.yaml',
        'min_active_hosts: 3',
        'min_active_hosts: 3\n      reremediate_after: soon',
      ),
    );
    find(issues, 'deploy/local/services.yaml', /reremediate_after|pattern|duration/);
  });

  test('min_active_hosts at or above max_active_hosts', async () => {
    const issues = await issuesAfter((c) =>
      c.edit('deploy/local/services.yaml', 'min_active_hosts: 3', 'min_active_hosts: 300'),
    );
    find(issues, 'deploy/local/services.yaml', 'must be below max_active_hosts');
  });

  test('all errors of a run are reported together, sorted by file and line', async () => {
    const issues = await issuesAfter(async (c) => {
      await c.edit('rules/healthcheck_down.yaml', 'checkName: PeerCheck', 'checkName: Nope');
      await c.edit('workflows/default.replace_host.yaml', 'needs: [lb_out]', 'needs: [lb_out, resolve]');
      await c.edit('deploy/local/services.yaml', 'profile: cassandra', 'profile: nope');
      await c.edit('profiles/stateless.yaml', 'rate_limit_threshold: 3', 'rate_limit_threshold: "3"');
    });
    assert.ok(issues.length >= 4, issues.map(formatIssue).join('\n'));
    for (const file of [
      'rules/healthcheck_down.yaml',
      'workflows/default.replace_host.yaml',
      'deploy/local/services.yaml',
      'profiles/stateless.yaml',
    ]) {
      assert.ok(
        issues.some((i) => i.file.endsWith(file) && i.line > 0),
        file,
      );
    }
    const keys = issues.map((i) => `${i.file}\u0000${String(i.line).padStart(6, '0')}`);
    assert.deepEqual(
      keys,
      [...keys].sort((a, b) => a.localeCompare(b)),
    );
  });
});
