/**
 * The node's parts that are built from the configuration and the environment alone: the pager
 * (with the region's request budget), the notification channels, the Redis hooks of the breaker's
 * summary notes, the retention timer, and the TLS files (the peers' and the REST API's, reloaded on
 * SIGHUP and when they change). node.ts wires them together.
 */
import { constants, unwatchFile, watchFile } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { RedisClient } from '../common/redis.js';
import { secretValue } from '../common/secret.js';
import type { Logger } from 'pino';
import { ApiCertificate } from '../api/certificate.js';
import type { ServedCertificate } from '../api/certificate.js';
import { nodeTlsFiles, PeerIdentity } from '../cluster/tls.js';
import { viaRedis } from '../common/dependency.js';
import type { RedisKeys } from '../common/keys.js';
import { minimumRetentionMs } from '../config/region.js';
import type { CompiledConfig } from '../config/types.js';
import type { Metrics } from '../metrics/metrics.js';
import { ChannelDirectory } from '../notify/channel-directory.js';
import { EmailChannel } from '../notify/email.js';
import { Notifier } from '../notify/notifier.js';
import type { DeliveryRecord, NotifyMessage } from '../notify/notifier.js';
import { PagerDutyNoteChannel } from '../notify/pagerduty-channel.js';
import { SlackChannel } from '../notify/slack.js';
import { PagerErrorCodes } from '../pager/errors.js';
import { PagerDutyPager } from '../pager/pagerduty-pager.js';
import { SharedRequestBudget } from '../pager/request-budget.js';
import type { DecisionStore } from './decision-store.js';
import type { ResponderOptions } from './responder.js';

/** The region's PagerDuty client, or none (nothing with a page is acted on then: said in the log). */
export function pagerOf(
  config: CompiledConfig,
  redis: RedisClient,
  keys: RedisKeys,
  metrics: Metrics,
  log: Logger,
): PagerDutyPager | undefined {
  const pd = config.region.pagerduty;
  if (pd === undefined) {
    log.warn('no pagerduty section in region.yaml: events with an incident key will not be acted on');
    return undefined;
  }
  const token = process.env[pd.tokenEnv] ?? '';
  if (token === '')
    log.warn(
      `$${pd.tokenEnv} is empty: PagerDuty will refuse every call, and nothing with a page is acted on`,
    );
  return new PagerDutyPager({
    baseUrl: pd.url,
    token,
    from: pd.from,
    budgetMs: pd.budgetMs,
    incidentGraceMs: pd.incidentGraceMs,
    ...(pd.userId === undefined ? {} : { userId: pd.userId }),
    requestBudget: new SharedRequestBudget({
      redis,
      key: keys.pagerBudget,
      perMinute: pd.requestsPerMinute,
      onError: (error) =>
        log.warn({ err: error }, 'the PagerDuty request budget could not be read: nothing is sent'),
    }),
    onCall: (call) => {
      if (call.code === PagerErrorCodes.OVER_BUDGET) metrics.pageLeftToTimer(call.verb);
    },
  });
}

/** Who is told about a service: its channels, the named groups, the fallback. */
export function directoryOf(config: CompiledConfig): ChannelDirectory {
  const notes = config.region.notifications;
  return ChannelDirectory.fromServices(config.services.values(), {
    slackWebhooks: Object.fromEntries(
      Object.entries(notes.slackWebhooks).map(([channel, hook]) => [
        channel,
        secretValue(hook, `notifications.slack_webhooks["${channel}"]`),
      ]),
    ),
    groups: notes.teams,
    fallback: notes.fallback,
  });
}

/** The notifier with every channel the configuration names (Slack, email with SMTP, PagerDuty notes). */
export function notifierOf(
  config: CompiledConfig,
  directory: ChannelDirectory,
  pager: PagerDutyPager | undefined,
  log: Logger,
  onSettled: (record: DeliveryRecord, message: NotifyMessage) => void,
): Notifier {
  const smtp = config.region.notifications.smtp;
  return new Notifier({
    directory,
    log,
    onSettled,
    channels: {
      slack: new SlackChannel(),
      ...(smtp === undefined
        ? {}
        : {
            email: new EmailChannel({
              host: smtp.host,
              port: smtp.port,
              from: smtp.from,
              secure: smtp.secure,
              ...(smtp.userEnv === undefined
                ? {}
                : {
                    auth: {
                      user: process.env[smtp.userEnv] ?? '',
                      pass: smtp.passwordEnv === undefined ? '' : (process.env[smtp.passwordEnv] ?? ''),
                    },
                  }),
            }),
          }),
      ...(pager === undefined ? {} : { pagerduty: new PagerDutyNoteChannel(pager) }),
    },
  });
}

/**
 * One summary note per page per opening of the breaker, whichever node escalates it: claimed in
 * Redis, kept while the opening can still be the one events are escalated under, and some more.
 */
export function breakerNotes(
  config: CompiledConfig,
  redis: RedisClient,
  keys: RedisKeys,
  node: string,
): Pick<ResponderOptions, 'claimBreakerNote' | 'releaseBreakerNote'> {
  return {
    claimBreakerNote: async (openedAtMs, incidentKey) =>
      (await viaRedis('breaker note claim', () =>
        redis.set(
          keys.breakerNote(openedAtMs, incidentKey),
          node,
          'PX',
          Math.max(3_600_000, 2 * config.region.thresholds.breakerWindowMs),
          'NX',
        ),
      )) === 'OK',
    releaseBreakerNote: async (openedAtMs, incidentKey) => {
      await viaRedis('breaker note release', () => redis.del(keys.breakerNote(openedAtMs, incidentKey)));
    },
  };
}

/** Retention of the audit trail, every minute: any node may trim; it is idempotent. */
export function retentionTimer(store: DecisionStore, config: CompiledConfig, log: Logger): NodeJS.Timeout {
  const audit = config.region.audit;
  const timer = setInterval(() => {
    store
      .trim(Date.now(), audit.retentionMs, audit.maxEvents, minimumRetentionMs(config.region.thresholds))
      .then(
        (removed) => {
          if (removed > 0) log.info({ removed }, 'audit trail trimmed to its retention');
        },
        (error: unknown) => log.warn({ err: error }, 'audit trail could not be trimmed'),
      );
  }, 60_000);
  timer.unref();
  return timer;
}

/**
 * The node's TLS identity for the peer protocol, reloaded on SIGHUP and when its files change
 * (polled every 2 s): `undefined` when the region is configured `insecure`, which is said loudly.
 * `stop` ends the watching.
 */
export async function peerIdentityOf(
  config: CompiledConfig,
  nodeId: string,
  log: Logger,
): Promise<{ readonly identity: PeerIdentity | undefined; readonly stop: () => void }> {
  const peers = config.region.peers;
  if (!('tls' in peers)) {
    log.warn(
      { peers: 'insecure' },
      'PEERS ARE NOT AUTHENTICATED (peers.insecure: true): anything that reaches a peer port can cast a vote; use it only on a network nothing else can reach',
    );
    // Nothing to reload; without a handler SIGHUP would end the node.
    const onHup = (): void => log.info('SIGHUP: no peer certificate to reload (peers.insecure)');
    process.on('SIGHUP', onHup);
    return { identity: undefined, stop: () => process.off('SIGHUP', onHup) };
  }
  const files = nodeTlsFiles(peers.tls, nodeId);
  const nodes = config.region.nodes.map((n) => n.id);
  const identity = await PeerIdentity.load(nodeId, files, nodes);
  log.info({ cert: files.cert, serial: identity.serial }, 'peers: mutual TLS');
  await warnAboutKeys(peers.tls, nodeId, nodes, log);
  const stop = reloadOnChange(
    'peers',
    [files.ca, files.cert, ...(files.keyEnv === undefined ? [files.key] : [])],
    async () => ((await identity.reload()) ? identity.serial : undefined),
    log,
  );
  return { identity, stop };
}

/**
 * The REST API's certificate (`api.tls`, `{node}` replaced by the node's id), read and checked
 * before the API starts: a file that cannot be read or used rejects, naming the field and the
 * file, and the node does not start. `undefined` when the API is configured without TLS.
 */
export async function apiCertificateOf(
  config: CompiledConfig,
  nodeId: string,
  log: Logger,
): Promise<ApiCertificate | undefined> {
  const tls = config.region.api.tls;
  if (tls === undefined) {
    log.info('REST API: plain HTTP (no api.tls): tokens and events cross the network in clear text');
    return undefined;
  }
  const files = {
    cert: tls.cert.replaceAll('{node}', nodeId),
    ...(tls.key === undefined ? {} : { key: tls.key.replaceAll('{node}', nodeId) }),
    ...(tls.keyEnv === undefined ? {} : { keyEnv: tls.keyEnv }),
  };
  const certificate = await ApiCertificate.load(files);
  log.info(
    { cert: files.cert, serial: certificate.serial, names: certificate.names, valid_to: certificate.validTo },
    'REST API: HTTPS',
  );
  if (files.keyEnv === undefined && files.key !== undefined)
    await warnIfOthersRead(files.key, 'api.tls', log);
  return certificate;
}

/**
 * Serves the API's certificate anew (`use`) whenever its files hold a new one: on SIGHUP and when
 * they change, as the peers' certificate. Returns the function that stops watching.
 */
export function reloadApiCertificate(
  certificate: ApiCertificate,
  log: Logger,
  use: (pem: ServedCertificate) => void,
): () => void {
  const { files } = certificate;
  return reloadOnChange(
    'REST API',
    [files.cert, ...(files.keyEnv === undefined && files.key !== undefined ? [files.key] : [])],
    async () => ((await certificate.reload(use)) ? certificate.serial : undefined),
    log,
  );
}

/**
 * Reloads TLS files on SIGHUP and when one of them changes (polled every 2 s), one reload at a
 * time. `reload` resolves with the new certificate's serial, or `undefined` when nothing changed;
 * files that cannot be used are logged and the ones in use stay. Returns the function that stops.
 */
function reloadOnChange(
  what: string,
  watched: readonly string[],
  reload: () => Promise<string | undefined>,
  log: Logger,
): () => void {
  let reloading = Promise.resolve();
  const run = (why: string): void => {
    reloading = reloading.then(() =>
      reload().then(
        (serial) => {
          if (serial !== undefined) log.info({ why, serial }, `${what}: certificate reloaded`);
        },
        (error: unknown) =>
          log.error(
            { err: error, why },
            `${what}: the certificate files cannot be used; the ones in use stay`,
          ),
      ),
    );
  };
  const onHup = (): void => run('SIGHUP');
  process.on('SIGHUP', onHup);
  const onChange = (): void => run('files changed');
  for (const file of watched) watchFile(file, { interval: 2000, persistent: false }, onChange);
  return () => {
    process.off('SIGHUP', onHup);
    for (const file of watched) unwatchFile(file, onChange);
  };
}

/**
 * Says loudly what a node should not be able to read: the CA's key beside the CA certificate, or
 * another node's key (with either, whoever holds this node can vote as another); and a key of its
 * own that others may read.
 */
async function warnAboutKeys(
  tls: { readonly ca: string; readonly key: string; readonly keyEnv?: string },
  nodeId: string,
  nodes: readonly string[],
  log: Logger,
): Promise<void> {
  const readable = async (path: string): Promise<boolean> =>
    access(path, constants.R_OK).then(
      () => true,
      () => false,
    );
  const caKey = join(dirname(tls.ca), 'ca-key.pem');
  if (await readable(caKey))
    log.warn(
      { file: caKey },
      "peers: this node can read the CA's key: whoever holds the node can make a certificate for any node. Keep ca-key.pem off the nodes",
    );
  if (tls.key.includes('{node}')) {
    const others: string[] = [];
    for (const other of nodes.filter((n) => n !== nodeId))
      if (await readable(tls.key.replaceAll('{node}', other))) others.push(other);
    // One line for all of them: on one machine that runs every node (npm start) this is expected.
    if (others.length > 0)
      log.warn(
        { nodes: others },
        `peers: this node can read the keys of ${others.join(', ')}: whoever holds it can vote as them. In a real region give each node only its own key (lazarus certs --node ID)`,
      );
  }
  if (tls.keyEnv === undefined) await warnIfOthersRead(tls.key.replaceAll('{node}', nodeId), 'peers', log);
}

/** Says so when a key file can be read by others than its owner. */
async function warnIfOthersRead(key: string, what: string, log: Logger): Promise<void> {
  const mode = await stat(key).then(
    (s) => s.mode,
    () => 0,
  );
  if ((mode & 0o077) !== 0)
    log.warn(
      { file: key, mode: (mode & 0o777).toString(8) },
      `${what}: the key can be read by others than its owner; chmod 600`,
    );
}
