/**
 * The Kubernetes manifests of a region (`deploy/kubernetes/*.yaml`): every document is a valid
 * Kubernetes object (the API's own schemas, offline, through `kubernetes-models`), and the
 * properties the cluster's safety rests on hold: three nodes, one per zone, a disruption budget of
 * one, peers that find each other while starting, probes on paths the API serves, Secrets that
 * define every key read from them, and a ConfigMap that loads with the project's own loader.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { StatefulSet } from 'kubernetes-models/apps/v1';
import type { IStatefulSet } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import type { IConfigMap, IContainer, ISecret, IService } from 'kubernetes-models/v1';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { ApiServer } from '../../../src/api/server.js';
import { certsCommand } from '../../../src/cli/certs.js';
import { RedisKeys } from '../../../src/common/keys.js';
import type { RedisClient } from '../../../src/common/redis.js';
import { loadConfig } from '../../../src/config/load.js';
import { formatIssue } from '../../../src/config/source.js';
import type { CompiledConfig } from '../../../src/config/types.js';
import { defaultCatalog } from '../../../src/controller/catalog.js';
import { parseInventory } from '../../../src/inventory/document.js';
import { Metrics } from '../../../src/metrics/metrics.js';
import { REPO } from '../../helpers/config-copy.js';

const DIR = join(REPO, 'deploy', 'kubernetes');
/** Where the image keeps the package (its working directory): the libraries' paths in region.yaml. */
const IMAGE_PACKAGE = '/app';
const execFileAsync = promisify(execFile);
const NODE_IDS = ['lazarus-0', 'lazarus-1', 'lazarus-2'];

interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string };
}
interface Manifest {
  readonly file: string;
  readonly object: K8sObject;
}

/** The schema of each kind the manifests may hold; any other kind is a failure. */
const MODELS: Record<string, (data: never) => { validate(): void }> = {
  'v1/Namespace': (d) => new Namespace(d),
  'v1/ServiceAccount': (d) => new ServiceAccount(d),
  'v1/Secret': (d) => new Secret(d),
  'v1/ConfigMap': (d) => new ConfigMap(d),
  'v1/Service': (d) => new Service(d),
  'policy/v1/PodDisruptionBudget': (d) => new PodDisruptionBudget(d),
  'apps/v1/StatefulSet': (d) => new StatefulSet(d),
};

async function yamlFiles(): Promise<string[]> {
  return (await readdir(DIR)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
}

/** Every document of every manifest file; a YAML error fails the load. */
async function loadManifests(): Promise<Manifest[]> {
  const out: Manifest[] = [];
  for (const file of await yamlFiles()) {
    for (const doc of parseAllDocuments(await readFile(join(DIR, file), 'utf8'))) {
      assert.deepEqual(doc.errors, [], `${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      const object = doc.toJS() as K8sObject | null;
      if (object !== null) out.push({ file, object });
    }
  }
  return out;
}

function only<T>(manifests: readonly Manifest[], kind: string): T[] {
  return manifests.filter((m) => m.object.kind === kind).map((m) => m.object as T);
}

function one<T>(manifests: readonly Manifest[], kind: string, name?: string): T {
  const found = manifests.filter(
    (m) => m.object.kind === kind && (name === undefined || m.object.metadata.name === name),
  );
  assert.equal(found.length, 1, `expected one ${kind}${name === undefined ? '' : ` ${name}`}`);
  return found[0]?.object as T;
}

function matches(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) {
  return (
    selector !== undefined &&
    Object.keys(selector).length > 0 &&
    Object.entries(selector).every(([k, v]) => labels?.[k] === v)
  );
}

/**
 * What keeps the region safe to run and to disrupt; each broken property is one line. Pure, so that
 * an edited copy of the manifests can be shown to be caught.
 */
function safetyProblems(manifests: readonly Manifest[]): string[] {
  const problems: string[] = [];
  const sets = only<IStatefulSet>(manifests, 'StatefulSet');
  if (sets.length !== 1) return [`expected one StatefulSet, found ${sets.length}`];
  const set = sets[0] as IStatefulSet;
  const spec = set.spec;
  if (spec === undefined) return ['the StatefulSet has no spec'];
  const podLabels = spec.template.metadata?.labels;
  const pod = spec.template.spec;

  if (spec.replicas !== 3) problems.push(`replicas is ${String(spec.replicas)}, not 3`);
  if (spec.podManagementPolicy !== 'Parallel') problems.push('podManagementPolicy is not Parallel');
  if (!matches(spec.selector.matchLabels, podLabels)) problems.push("the selector misses the pods' labels");

  const spread = pod?.topologySpreadConstraints?.find((c) => c.topologyKey === 'topology.kubernetes.io/zone');
  if (spread?.maxSkew !== 1 || spread.whenUnsatisfiable !== 'DoNotSchedule')
    problems.push('no zone spread with maxSkew 1 and DoNotSchedule');
  else if (!matches(spread.labelSelector?.matchLabels, podLabels))
    problems.push("the zone spread's selector misses the pods");
  const anti = pod?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.find(
    (t) => t.topologyKey === 'kubernetes.io/hostname',
  );
  if (anti === undefined || !matches(anti.labelSelector?.matchLabels, podLabels))
    problems.push('no required anti-affinity on kubernetes.io/hostname for the pods');

  const pdbs = only<IPodDisruptionBudget>(manifests, 'PodDisruptionBudget');
  if (pdbs.length !== 1) problems.push(`expected one PodDisruptionBudget, found ${pdbs.length}`);
  for (const pdb of pdbs) {
    if (pdb.spec?.maxUnavailable !== 1)
      problems.push(`the PodDisruptionBudget's maxUnavailable is ${String(pdb.spec?.maxUnavailable)}, not 1`);
    if (pdb.spec?.minAvailable !== undefined) problems.push('the PodDisruptionBudget also sets minAvailable');
    if (!matches(pdb.spec?.selector?.matchLabels, podLabels))
      problems.push("the PodDisruptionBudget's selector misses the StatefulSet's pods");
  }

  const services = only<IService>(manifests, 'Service');
  const peers = services.find((s) => s.metadata?.name === spec.serviceName);
  if (peers === undefined) problems.push(`no Service ${spec.serviceName} (the StatefulSet's serviceName)`);
  else {
    if (peers.spec?.clusterIP !== 'None')
      problems.push(`${spec.serviceName} is not headless (clusterIP None)`);
    if (peers.spec?.publishNotReadyAddresses !== true)
      problems.push(`${spec.serviceName} does not publish not-ready addresses`);
    if (!matches(peers.spec?.selector, podLabels))
      problems.push(`${spec.serviceName}'s selector misses the pods`);
  }

  const secrets = new Map(
    only<ISecret>(manifests, 'Secret').map((s) => [
      s.metadata?.name ?? '',
      new Set([...Object.keys(s.data ?? {}), ...Object.keys(s.stringData ?? {})]),
    ]),
  );
  const containers: IContainer[] = [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])];
  for (const c of containers) {
    for (const env of c.env ?? []) {
      const ref = env.valueFrom?.secretKeyRef;
      if (ref === undefined) continue;
      if (!(secrets.get(ref.name ?? '')?.has(ref.key) ?? false))
        problems.push(
          `${c.name}: ${env.name} reads key ${ref.key} of Secret ${ref.name}, which does not define it`,
        );
    }
    for (const from of c.envFrom ?? [])
      if (from.secretRef !== undefined && !secrets.has(from.secretRef.name ?? ''))
        problems.push(`${c.name}: envFrom names Secret ${from.secretRef.name}, which is not here`);
  }
  for (const volume of pod?.volumes ?? []) {
    if (volume.secret !== undefined && !secrets.has(volume.secret.secretName ?? ''))
      problems.push(`volume ${volume.name}: no Secret ${volume.secret.secretName}`);
    if (
      volume.configMap !== undefined &&
      !manifests.some(
        (m) => m.object.kind === 'ConfigMap' && m.object.metadata.name === volume.configMap?.name,
      )
    )
      problems.push(`volume ${volume.name}: no ConfigMap ${volume.configMap.name}`);
  }
  return problems;
}

function node(containers: readonly IContainer[] | undefined): IContainer {
  const container = containers?.find((c) => c.args?.[0] === 'node');
  assert.ok(container !== undefined, 'no container runs `lazarus node`');
  return container;
}

/** The node's container: the one that runs `lazarus node`. */
function nodeContainer(manifests: readonly Manifest[]): IContainer {
  return node(one<IStatefulSet>(manifests, 'StatefulSet').spec?.template.spec?.containers);
}

/** The ConfigMap's files in a temporary configuration directory, libraries from this checkout. */
async function writeConfigMap(manifests: readonly Manifest[], dir: string): Promise<void> {
  const data = one<IConfigMap>(manifests, 'ConfigMap', 'lazarus-config').data ?? {};
  const region = parse(data['region.yaml'] ?? '') as { paths: Record<string, string> };
  for (const library of ['rules', 'profiles', 'workflows'])
    assert.equal(region.paths[library], `${IMAGE_PACKAGE}/${library}`, `paths.${library}`);
  for (const [file, text] of Object.entries(data)) await writeFile(join(dir, file), text);
  // The image's package is this checkout here; nothing else of the file changes.
  for (const library of ['rules', 'profiles', 'workflows']) region.paths[library] = join(REPO, library);
  await writeFile(join(dir, 'region.yaml'), stringify(region));
}

async function loadConfigMap(manifests: readonly Manifest[]): Promise<CompiledConfig> {
  const dir = await mkdtemp(join(tmpdir(), 'lz-k8s-'));
  try {
    await writeConfigMap(manifests, dir);
    const result = await loadConfig(dir, defaultCatalog());
    assert.ok(result.ok, result.ok ? '' : result.issues.map(formatIssue).join('\n'));
    return result.config;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('deploy/kubernetes', () => {
  test('every document is a valid Kubernetes object of a known kind, in the namespace', async () => {
    const manifests = await loadManifests();
    assert.ok(manifests.length >= 7, `only ${manifests.length} documents`);
    for (const { file, object } of manifests) {
      const model = MODELS[`${object.apiVersion}/${object.kind}`];
      assert.ok(model !== undefined, `${file}: unexpected ${object.apiVersion} ${object.kind}`);
      assert.doesNotThrow(
        () => model(object as never).validate(),
        `${file}: ${object.kind} ${object.metadata.name}`,
      );
      if (object.kind !== 'Namespace')
        assert.equal(object.metadata.namespace, 'lazarus', `${file}: namespace`);
    }
  });

  test('the schema check can fail: a replica count that is not a number is refused', async () => {
    const set = one<IStatefulSet>(await loadManifests(), 'StatefulSet');
    const broken = { ...set, spec: { ...set.spec, replicas: 'three' } };
    assert.throws(() => new StatefulSet(broken as never).validate(), /replicas/);
  });

  test('kustomization.yaml lists every manifest file', async () => {
    const kustomization = parse(await readFile(join(DIR, 'kustomization.yaml'), 'utf8')) as {
      resources: string[];
    };
    assert.deepEqual([...kustomization.resources].sort(), await yamlFiles());
  });

  test('the safety properties hold', async () => {
    assert.deepEqual(safetyProblems(await loadManifests()), []);
  });

  test('a disruption budget of two, or one that selects no pod, is caught', async () => {
    const manifests = await loadManifests();
    const edit = (spec: Partial<NonNullable<IPodDisruptionBudget['spec']>>): Manifest[] =>
      manifests.map((m) =>
        m.object.kind === 'PodDisruptionBudget'
          ? { ...m, object: { ...m.object, spec: { ...(m.object as IPodDisruptionBudget).spec, ...spec } } }
          : m,
      );
    assert.deepEqual(safetyProblems(edit({ maxUnavailable: 2 })), [
      "the PodDisruptionBudget's maxUnavailable is 2, not 1",
    ]);
    assert.deepEqual(safetyProblems(edit({ selector: { matchLabels: { app: 'other' } } })), [
      "the PodDisruptionBudget's selector misses the StatefulSet's pods",
    ]);
  });

  test('the node runs `lazarus node` with its pod name as its id', async () => {
    const container = nodeContainer(await loadManifests());
    assert.deepEqual(container.args, ['node', '--config', '/etc/lazarus', '--node', '$(POD_NAME)']);
    const podName = container.env?.find((e) => e.name === 'POD_NAME');
    assert.equal(podName?.valueFrom?.fieldRef?.fieldPath, 'metadata.name');
    assert.ok(container.volumeMounts?.some((v) => v.name === 'config' && v.mountPath === '/etc/lazarus'));
  });

  test("the ConfigMap loads with the project's loader and names the pods as nodes", async () => {
    const manifests = await loadManifests();
    const config = await loadConfigMap(manifests);
    const { region } = config;
    assert.deepEqual(
      region.nodes.map((n) => n.id),
      NODE_IDS,
    );
    const set = one<IStatefulSet>(manifests, 'StatefulSet');
    const container = nodeContainer(manifests);
    const port = (name: string): number | undefined =>
      container.ports?.find((p) => p.name === name)?.containerPort;
    for (const node of region.nodes) {
      const host = `${node.id}.${set.spec?.serviceName}.lazarus.svc.cluster.local`;
      assert.equal(node.grpc, `${host}:${port('grpc')}`);
      assert.equal(node.api, `${host}:${port('api')}`);
    }
    // The variables region.yaml names are each set from a Secret in the node's container.
    const fromSecret = new Set(
      (container.env ?? []).filter((e) => e.valueFrom?.secretKeyRef !== undefined).map((e) => e.name),
    );
    const named = [region.api.tokenEnv, region.pagerduty?.tokenEnv, region.redis.passwordEnv];
    for (const name of named)
      assert.ok(name !== undefined && fromSecret.has(name), `${name} is not set from a Secret`);
    // Peer TLS from the directory the init container fills, one node's files.
    assert.ok(region.peers !== undefined && 'tls' in region.peers);
    const data = one<IConfigMap>(manifests, 'ConfigMap', 'lazarus-config').data ?? {};
    assert.equal(parseInventory(parse(data['inventory.yaml'] ?? ''), 'inventory.yaml').size > 0, true);
  });

  test('the probes and the scrape point at paths the API serves, on its port', async () => {
    const manifests = await loadManifests();
    const config = await loadConfigMap(manifests);
    const container = nodeContainer(manifests);
    const set = one<IStatefulSet>(manifests, 'StatefulSet');
    const annotations = set.spec?.template.metadata?.annotations ?? {};
    const apiPort = container.ports?.find((p) => p.name === 'api')?.containerPort;
    assert.equal(annotations['prometheus.io/scrape'], 'true');
    assert.equal(annotations['prometheus.io/port'], String(apiPort));
    const probes = [container.readinessProbe, container.livenessProbe];
    assert.equal(container.readinessProbe?.httpGet?.path, '/readyz');
    assert.equal(container.livenessProbe?.httpGet?.path, '/healthz');
    const paths = [...probes.map((p) => p?.httpGet?.path), annotations['prometheus.io/path']];
    for (const probe of probes) assert.ok(probe?.httpGet?.port === 'api' || probe?.httpGet?.port === apiPort);
    // The startup probe is the gRPC health of the peer port, asked by `lazarus health` as a peer:
    // the CLI of the image (its ENTRYPOINT's script), for the node the env names.
    const startup = container.startupProbe?.exec?.command ?? [];
    const dockerfile = await readFile(join(REPO, 'deploy', 'docker', 'Dockerfile'), 'utf8');
    const entrypoint = JSON.parse(/^ENTRYPOINT (.*)$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
    assert.deepEqual(startup.slice(0, 3), [...entrypoint.slice(-2), 'health']);
    assert.equal(container.env?.find((e) => e.name === 'LAZARUS_NODE')?.value, '$(POD_NAME)');
    const podName = container.env?.findIndex((e) => e.name === 'POD_NAME') ?? -1;
    assert.ok(
      podName >= 0 && podName < (container.env?.findIndex((e) => e.name === 'LAZARUS_NODE') ?? -1),
      'POD_NAME is defined before LAZARUS_NODE refers to it',
    );

    const redis = { ping: () => Promise.resolve('PONG') } as unknown as RedisClient;
    const api = await ApiServer.start({
      listen: '127.0.0.1:0',
      redis,
      keys: new RedisKeys('lz:test:'),
      config,
      metrics: new Metrics({ defaultMetrics: false }),
      put: () => Promise.resolve(),
      state: () => 'running',
      nodeId: 'lazarus-0',
    });
    try {
      for (const path of paths) {
        assert.ok(path !== undefined);
        const res = await fetch(`${api.url}${path}`);
        assert.equal(res.status, 200, `GET ${path}`);
      }
      assert.equal((await fetch(`${api.url}/livez`)).status, 404, 'a path the API does not serve');
    } finally {
      await api.stop();
    }
  });

  test("`lazarus certs` makes the Secret's files, and the init container gives the node only its own", async () => {
    const manifests = await loadManifests();
    const root = await mkdtemp(join(tmpdir(), 'lz-k8s-certs-'));
    try {
      const config = join(root, 'config');
      const [ca, all, own] = [join(root, 'ca'), join(root, 'all'), join(root, 'own')];
      for (const d of [config, ca, all, own]) await mkdir(d);
      await writeConfigMap(manifests, config);
      const printed: string[] = [];
      const sink = new Writable({
        write: (chunk: Buffer, _e, done) => done(void printed.push(String(chunk))),
      });
      const code = await certsCommand(
        config,
        { out: all, caDir: ca, nodes: NODE_IDS, days: 1, newCa: false },
        sink,
      );
      assert.equal(code, 0, printed.join(''));
      // What the Secret lazarus-tls holds: the CA certificate and each node's pair, not the CA key.
      const secret = one<ISecret>(manifests, 'Secret', 'lazarus-tls');
      assert.deepEqual((await readdir(all)).sort(), Object.keys(secret.stringData ?? {}).sort());
      const cert = new X509Certificate(await readFile(join(all, 'lazarus-0.pem')));
      assert.match(cert.subjectAltName ?? '', /DNS:lazarus-0(,|$)/);
      assert.match(cert.subjectAltName ?? '', /DNS:lazarus-0\.lazarus-peers\.lazarus\.svc\.cluster\.local/);

      // The init container's script, run as written against these directories for pod lazarus-0.
      const pod = one<IStatefulSet>(manifests, 'StatefulSet').spec?.template.spec;
      const init = pod?.initContainers?.find((c) => c.name === 'own-key');
      assert.equal(init?.command?.[0], 'node');
      assert.equal(init.command[1], '-e');
      const script = (init.command[2] ?? '')
        .replaceAll('/run/lazarus-tls-all', all)
        .replaceAll('/etc/lazarus-tls', own);
      await execFileAsync(process.execPath, ['-e', script], {
        env: { ...process.env, POD_NAME: 'lazarus-0' },
      });
      assert.deepEqual((await readdir(own)).sort(), ['ca.pem', 'lazarus-0-key.pem', 'lazarus-0.pem']);
      assert.equal((await stat(join(own, 'lazarus-0-key.pem'))).mode & 0o777, 0o600);
      // Where region.yaml's peers.tls looks for them, with {node} the pod's name.
      const tls = (
        parse(one<IConfigMap>(manifests, 'ConfigMap').data?.['region.yaml'] ?? '') as {
          peers: { tls: Record<string, string> };
        }
      ).peers.tls;
      const mount = node(pod?.containers).volumeMounts?.find((m) => m.name === 'tls')?.mountPath;
      for (const [key, file] of [
        ['ca', 'ca.pem'],
        ['cert', 'lazarus-0.pem'],
        ['key', 'lazarus-0-key.pem'],
      ] as const)
        assert.equal(tls[key]?.replaceAll('{node}', 'lazarus-0'), `${mount}/${file}`, key);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  test('the pod runs unprivileged, bounded, and outlasts a drain', async () => {
    const set = one<IStatefulSet>(await loadManifests(), 'StatefulSet');
    const pod = set.spec?.template.spec;
    assert.equal(pod?.securityContext?.runAsNonRoot, true);
    assert.ok((pod?.terminationGracePeriodSeconds ?? 30) >= 75, 'terminationGracePeriodSeconds');
    for (const c of [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])]) {
      assert.equal(c.securityContext?.readOnlyRootFilesystem, true, c.name);
      assert.equal(c.securityContext?.allowPrivilegeEscalation, false, c.name);
      assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL'], c.name);
      assert.ok(
        c.resources?.requests?.['cpu'] !== undefined && c.resources.limits?.['memory'] !== undefined,
        c.name,
      );
      // The kubelet's gRPC probe has no client certificate: against the mTLS peer port it fails.
      for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe])
        assert.equal(probe?.grpc, undefined, `${c.name}: no kubelet grpc probe on an mTLS port`);
    }
    // The node's container sees its own key only: the Secret with every key is the init container's.
    const allKeys = pod?.volumes?.find((v) => v.secret?.secretName === 'lazarus-tls')?.name;
    assert.ok(allKeys !== undefined);
    assert.ok(
      !(node(pod?.containers).volumeMounts ?? []).some((m) => m.name === allKeys),
      'the node mounts every key',
    );
  });
});
