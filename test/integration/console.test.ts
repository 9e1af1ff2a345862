/**
 * The web console in a real browser (Debian's chromium, driven by playwright-core) against a real
 * local region: three node processes voting over gRPC, kinesis-local, redis-server, the fleet
 * simulator. The console is served by node a's own REST API, with protected reads, so the page
 * first asks for the token. Screenshots of each page go to `test-results/console/`.
 */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import type { Browser, Locator, Page } from 'playwright-core';
import type { DecisionRecord } from '../../src/records/decision.js';
import { LocalStack } from '../../src/sim/local-stack.js';
import { ClusterProbe, hostDown } from '../helpers/cluster.js';
import type { TestEvent } from '../helpers/cluster.js';
import { REPO } from '../helpers/config-copy.js';
import { waitFor } from '../helpers/wait.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(REPO, 'test-results', 'console');

// Rate limits out of the way: this test is about what the console shows, not about storms.
const SERVICES = `services:
  sms-api:
    profile: stateless
    parameters: { min_active_hosts: 3, rate_limit_threshold: 10000 }
  voice-gateway:
    profile: stateless
    parameters: { rate_limit_threshold: 10000 }
`;
const REGION = {
  thresholds: { vote_timeout: '3s' },
  kinesis: { poll_interval: '50ms' },
  api: { protect_reads: true },
};

/**
 * An attribute of every element a locator finds, in order. (Read from Node, not with a function run
 * in the page: the test is compiled without the DOM's types.) A short timeout: the list may be
 * redrawn meanwhile, and the caller polls.
 */
async function attrs(locator: Locator, name: string): Promise<(string | null)[]> {
  return Promise.all((await locator.all()).map((l) => l.getAttribute(name, { timeout: 1000 })));
}

/** The ids of the list's rows, in order. */
async function rowIds(page: Page): Promise<string[]> {
  return (await attrs(page.getByTestId('event-row'), 'data-id')).map((id) => id ?? '');
}

/** Waits until the list shows exactly these events (in any order): the table is replaced after each load. */
async function waitRows(page: Page, expected: readonly string[]): Promise<string[]> {
  const want = [...expected].sort();
  let last: string[] = [];
  return waitFor(
    `the list to show ${want.join(', ')}`,
    async () => {
      last = await rowIds(page);
      return JSON.stringify([...last].sort()) === JSON.stringify(want) ? last : undefined;
    },
    10_000,
  ).catch((error: unknown) => {
    throw new Error(`${error instanceof Error ? error.message : String(error)}; it shows ${last.join(', ')}`);
  });
}

/** Every node that voted on the decision, before it or after it. */
function voters(d: DecisionRecord): string[] {
  return [...d.votes, ...(d.late_votes ?? [])].map((v) => v.node).sort();
}

const MISSING = `${CHROMIUM} is missing: the console test drives Debian's chromium; install it with \`apt-get install chromium\``;

// Counted as a failure of its own (the hook's failure below only cancels the browser tests).
test('chromium is installed', () => {
  assert.ok(existsSync(CHROMIUM), MISSING);
});

describe('web console in a browser', { timeout: 120_000 }, () => {
  let stack: LocalStack;
  let probe: ClusterProbe;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  let act: TestEvent;
  let checksFailed: TestEvent;
  let noRule: TestEvent;

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(MISSING);
    await mkdir(SHOTS, { recursive: true });
    [stack, browser] = await Promise.all([
      LocalStack.start({ region: REGION, shards: 2, services: SERVICES }),
      chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--headless=new',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-dev-shm-usage',
          '--disable-background-networking',
        ],
      }),
    ]);
    probe = new ClusterProbe(stack);

    // An act (host really down: every zone sees it), a checks_failed escalation (downstream
    // failure), and a no_rule escalation (a service nobody subscribed).
    stack.fleet.inject({ kind: 'host_down', host: 'sms-api-1' });
    stack.fleet.inject({ kind: 'downstream', service: 'voice-gateway' });
    act = hostDown('sms-api', 'sms-api-1');
    checksFailed = hostDown('voice-gateway', 'voice-gateway-2', { type: 'HealthcheckDown', data: {} });
    noRule = hostDown('not-subscribed', 'x-1');
    for (const e of [act, checksFailed, noRule]) await probe.put(e);
    // And a record that is no event: the list's default view says one was rejected.
    const poison = await probe.put(Buffer.from('this is not an event'), 'poison');
    await waitFor('the poison record to be rejected', async () =>
      (await probe.rejected()).some((r) => r.sequence === poison.sequence) ? true : undefined,
    );
    const decisions = await Promise.all([act, checksFailed, noRule].map((e) => probe.waitDecision(e.id)));
    assert.deepEqual(
      decisions.map((d) => [d.decision, d.reason]),
      [
        ['act', undefined],
        ['escalate', 'checks_failed'],
        ['escalate', 'no_rule'],
      ],
      JSON.stringify(decisions.map((d) => d.failures)),
    );
    // The third vote lands in the record after the decision (as a late vote), and the run ends ~2 s later.
    await Promise.all([
      waitFor('votes from a, b and c on the act', async () => {
        const d = await probe.decision(act.id);
        return d !== undefined && voters(d).join() === 'a,b,c' ? d : undefined;
      }),
      probe.finished(`run-${act.id}`),
    ]);

    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  after(async () => {
    await browser?.close();
    await probe?.close();
    await stack?.stop();
    await stack?.remove();
  });

  test('the list asks for the token, then shows every event newest first', async () => {
    await page.goto(`${stack.apiUrl('a')}/`);
    const error = page.getByTestId('error');
    await error.waitFor();
    assert.equal(await error.getAttribute('data-code'), 'LZ_ERR_API_UNAUTHORIZED');
    await page.getByTestId('token').fill(stack.apiToken);
    await page.getByTestId('token').press('Enter');

    const ids = await waitRows(page, [act.id, checksFailed.id, noRule.id]);
    const decidedAt = (await attrs(page.locator('[data-testid=event-row] time'), 'datetime')).map((t) =>
      Date.parse(t ?? ''),
    );
    assert.deepEqual(
      decidedAt,
      [...decidedAt].sort((x, y) => y - x),
      `newest first: ${ids.join(', ')}`,
    );
    const actRow = page.locator(`[data-testid=event-row][data-id="${act.id}"]`);
    assert.equal(await actRow.getAttribute('data-decision'), 'act');
    assert.match((await actRow.textContent()) ?? '', /sms-api\/nagios_host_down/);
    await waitFor('the cluster header', async () =>
      (await page.getByTestId('cluster-node').count()) === 3 ? true : undefined,
    );
    await page.screenshot({ path: join(SHOTS, 'list.png'), fullPage: true });
    // The default view says how many records were rejected in its period, and links to them.
    const notice = page.getByTestId('rejected-notice');
    await notice.waitFor();
    assert.match((await notice.textContent()) ?? '', /^1 record was rejected in this period/);
    await page.getByTestId('show-rejected').click();
    await waitFor('the rejected list', async () =>
      (await page.getByTestId('event-row').count()) === 1 ? true : undefined,
    );
    assert.equal(
      new URLSearchParams(new URL(page.url()).hash.replace(/^#\/\?/, '')).get('status'),
      'rejected',
    );
    assert.equal(
      await page.getByTestId('rejected-notice').count(),
      0,
      'the rejected list itself has no notice',
    );
    await page.goto(`${stack.apiUrl('a')}/#/`);
    await waitRows(page, [act.id, checksFailed.id, noRule.id]);
  });

  test('filters narrow the list and stay in the URL', async () => {
    await page.getByTestId('filter-status').selectOption('escalate');
    await waitRows(page, [checksFailed.id, noRule.id]);
    for (const decision of await attrs(page.getByTestId('event-row'), 'data-decision'))
      assert.equal(decision, 'escalate');

    // The service select is filled from /v1/services (selectOption waits for the option).
    await page.getByTestId('filter-service').selectOption('voice-gateway');
    await waitRows(page, [checksFailed.id]);
    const hash = new URLSearchParams(new URL(page.url()).hash.replace(/^#\/\?/, ''));
    assert.deepEqual([hash.get('status'), hash.get('service')], ['escalate', 'voice-gateway']);
    await page.screenshot({ path: join(SHOTS, 'filtered.png'), fullPage: true });

    await page.getByTestId('filter-reason').selectOption('no_rule');
    await page.getByTestId('empty').waitFor();
    assert.equal((await rowIds(page)).length, 0);

    // A filtered view is a link: loaded afresh (the token is kept for the tab), it shows the same.
    await page.goto('about:blank');
    await page.goto(`${stack.apiUrl('a')}/#/?service=sms-api`);
    await waitRows(page, [act.id]);
  });

  test('the detail page shows the decision, a vote block per node, the timeline and the run', async () => {
    await page.locator(`[data-testid=event-row][data-id="${act.id}"] [data-testid=event-link]`).click();
    await page.getByTestId('vote').nth(2).waitFor();
    assert.equal(await page.getByTestId('decision').getAttribute('data-decision'), 'act');
    // Put on the stream by the test, as a sensor does: the page says it did not come through the API.
    const submitted = page.getByTestId('submitted');
    assert.equal(await submitted.getAttribute('data-via'), 'stream');
    assert.equal(await submitted.textContent(), 'directly to the stream, not through the REST API');

    const votes = page.getByTestId('vote');
    const nodes = (await attrs(votes, 'data-node')).map((n) => n ?? '').sort();
    assert.deepEqual(nodes, ['a', 'b', 'c']);
    for (const node of nodes) {
      const block = page.locator(`[data-testid=vote][data-node="${node}"]`);
      assert.equal(
        await block.getAttribute('data-pass'),
        'true',
        `node ${node} passed: ${(await block.textContent()) ?? ''}`,
      );
      assert.match((await block.textContent()) ?? '', /zone local-1[abc]/);
      const health = block.locator('[data-testid=check][data-check=HealthCheckDown]');
      assert.equal(await health.getAttribute('data-pass'), 'true');
      assert.match((await health.textContent()) ?? '', /status 503 from local-1[abc]/);
    }

    const stages = await attrs(page.getByTestId('timeline-entry'), 'data-stage');
    assert.equal(stages[0], 'received');
    assert.ok(stages.includes('vote') && stages.includes('decision'), stages.join(', '));
    assert.ok((await page.getByTestId('step').count()) > 0, 'the workflow steps are listed');
    assert.match((await page.getByTestId('lock').textContent()) ?? '', /host:sms-api\/sms-api-1: taken/);
    await page.screenshot({ path: join(SHOTS, 'detail.png'), fullPage: true });

    // Back to the list with the filters it had.
    await page.getByTestId('back').click();
    await waitRows(page, [act.id]);
    assert.deepEqual(pageErrors, [], 'no script errors on any page');
  });
});
