/**
 * deploy/docker/Dockerfile, read as text: this machine has no registry to pull
 * `node:20-bookworm-slim` from, so CI cannot build the image (it was built and run once, by hand,
 * on a stand-in base made with debootstrap and this machine's Node: see the README). What the runtime reads is taken
 * from the code (the Lua directories from the tree itself), so a new `src/<module>/lua/` that the
 * Dockerfile does not copy fails this test.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { describe, test } from 'node:test';
import { REPO } from '../../helpers/config-copy.js';

interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
}

interface Stage {
  readonly from: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

/**
 * The Dockerfile's instructions by stage. A line ending in `\` continues on the next; comment lines
 * (also inside a continuation, as Docker reads them) and blank lines are skipped. Enough for this
 * Dockerfile: no heredocs, no `# escape=` directive.
 */
function parseDockerfile(text: string): Stage[] {
  const instructions: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    if (line.trimStart().startsWith('#') || (pending === '' && line.trim() === '')) return;
    if (pending === '') start = i + 1;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      return;
    }
    const full = (pending + line).trim();
    pending = '';
    const match = /^(\S+)\s*(.*)$/.exec(full);
    if (match !== null) instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]!, line: start });
  });
  if (pending.trim() !== '') throw new Error('the Dockerfile ends in a continuation');
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const [from, as, name] = instruction.args.split(/\s+/);
      stages.push({
        from: from ?? '',
        name: as?.toUpperCase() === 'AS' ? name : undefined,
        instructions: [],
      });
    } else {
      const stage = stages.at(-1);
      if (stage === undefined && instruction.keyword !== 'ARG')
        throw new Error(`line ${instruction.line}: ${instruction.keyword} before FROM`);
      stage?.instructions.push(instruction);
    }
  }
  return stages;
}

/** The exec form (`["a", "b"]`) as its array; the shell form is refused (no signal reaches node). */
function execForm(args: string): string[] | undefined {
  try {
    const value: unknown = JSON.parse(args);
    return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : undefined;
  } catch {
    return undefined;
  }
}

/** A stage's working directory after its instructions (only absolute WORKDIRs, as here). */
function workdir(stage: Stage): string {
  return stage.instructions.filter((i) => i.keyword === 'WORKDIR').at(-1)?.args ?? '/';
}

/** Where each COPY of a stage puts each of its sources: [source path in the repo, destination]. */
function copies(stage: Stage, stages: readonly Stage[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let dir = '/';
  for (const { keyword, args } of stage.instructions) {
    if (keyword === 'WORKDIR') dir = posix.resolve(dir, args);
    if (keyword !== 'COPY') continue;
    const words = args.split(/\s+/);
    const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
    const paths = words.filter((w) => !w.startsWith('--'));
    const dest = paths.pop() ?? '';
    const target = posix.resolve(dir, dest);
    // From another stage, a source is that stage's path; name it by the repo path it was built at.
    const fromStage = stages.find((s) => s.name === from);
    if (from !== undefined && fromStage === undefined) continue; // no such stage: nothing copied
    const fromDir = fromStage === undefined ? undefined : workdir(fromStage);
    for (const source of paths) {
      const repoPath = fromDir === undefined ? posix.normalize(source) : posix.relative(fromDir, source);
      const into =
        paths.length > 1 || dest.endsWith('/') ? posix.join(target, posix.basename(source)) : target;
      out.push([repoPath.replace(/\/$/, ''), into]);
    }
  }
  return out;
}

interface PackageJson {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

/** Packages that must not be installed in the runtime image (they serve the local demo, the build, the tests). */
const DEV_ONLY = ['kinesis-local', 'typescript', 'tsx', 'smtp-server', 'playwright-core'];

/**
 * What the runtime reads, relative to the package root (src/common/package-root.ts): the compiled
 * code, package.json (`--version`), every module's Lua scripts (src/common/lua.ts), the console
 * (src/api/static-files.ts), the peer protocol (src/cluster/proto.ts) and the shipped libraries.
 */
function runtimePaths(repo: string): string[] {
  const lua = readdirSync(`${repo}/src`)
    .filter((module) => existsSync(`${repo}/src/${module}/lua`))
    .map((module) => `src/${module}/lua`);
  assert.ok(lua.length > 0, 'no src/<module>/lua directories found: the test looks in the wrong place');
  return ['package.json', 'dist/src', ...lua, 'src/api/console', 'proto', 'rules', 'profiles', 'workflows'];
}

/** Every way the Dockerfile fails the image's requirements; empty when it meets them all. */
function problems(
  dockerfile: string,
  pkg: PackageJson,
  required: readonly string[],
  dockerignore: string,
): string[] {
  const found: string[] = [];
  // A parser directive BuildKit resolves on Docker Hub: a build that cannot reach it fails at once.
  const directive = /^#\s*syntax\s*=.*$/im.exec(dockerfile.split(/\n(?!#)/)[0] ?? '');
  if (directive !== null) found.push(`a \`${directive[0]}\` directive: BuildKit fetches it from Docker Hub`);
  const stages = parseDockerfile(dockerfile);
  if (stages.length < 2)
    found.push(`${stages.length} stage(s): a build stage and a runtime stage are needed`);
  const final = stages.at(-1);
  if (final === undefined) return found;
  for (const stage of stages)
    if (stage.from !== 'node:20-bookworm-slim')
      found.push(`stage ${stage.name ?? '?'} is FROM ${stage.from}`);
  const of = (keyword: string): Instruction[] => final.instructions.filter((i) => i.keyword === keyword);

  const user = of('USER').at(-1)?.args.split(':')[0];
  if (user === undefined || user === 'root' || user === '0')
    found.push(`the final stage runs as ${user ?? 'root (no USER)'}`);

  const entrypoint = of('ENTRYPOINT').at(-1);
  const argv = entrypoint === undefined ? undefined : execForm(entrypoint.args);
  if (argv === undefined) found.push('no ENTRYPOINT in exec form');
  else {
    if (!/(^|\/)tini$/.test(argv[0] ?? '')) found.push(`the ENTRYPOINT starts ${argv[0]}, not tini`);
    if (!argv.includes('/app/dist/src/cli/main.js'))
      found.push('the ENTRYPOINT does not run dist/src/cli/main.js');
  }
  if (of('CMD').length > 0 && execForm(of('CMD').at(-1)!.args)?.[0] !== 'node')
    found.push('the CMD is not the node command in exec form');
  // The health check is `lazarus health` (the peer port's grpc.health.v1, asked over mTLS).
  const check = of('HEALTHCHECK').at(-1)?.args;
  const checkArgv = check === undefined ? undefined : execForm(check.replace(/^(--\S+\s+)*CMD\s+/, ''));
  if (checkArgv === undefined || !/^(--\S+\s+)*CMD\s/.test(check ?? ''))
    found.push('no HEALTHCHECK CMD in exec form');
  else if (checkArgv.join(' ') !== 'node /app/dist/src/cli/main.js health')
    found.push(`the HEALTHCHECK runs ${checkArgv.join(' ')}, not lazarus health`);

  const runs = of('RUN').map((i) => i.args);
  const installs = runs.filter((r) => /\bnpm (ci|install|i)\b/.test(r));
  if (!installs.some((r) => /\bnpm ci\b/.test(r) && r.includes('--omit=dev')))
    found.push('no `npm ci --omit=dev` in the final stage');
  for (const r of installs) {
    if (!r.includes('--omit=dev')) found.push(`a dev install in the final stage: ${r}`);
    // `prepare` runs tsc, which a production install does not have.
    if (!r.includes('--ignore-scripts')) found.push(`an install that runs prepare (tsc): ${r}`);
  }
  if (!runs.some((r) => /apt-get install .*\btini\b/.test(r))) found.push('tini is not installed');
  for (const r of runs)
    if (r.includes('kinesis-local')) found.push(`the final stage mentions kinesis-local: ${r}`);
  for (const name of DEV_ONLY)
    if (pkg.dependencies?.[name] !== undefined) found.push(`${name} is a production dependency`);

  const copied = copies(final, stages);
  const app = workdir(final);
  for (const path of required) {
    const covered = copied.some(
      ([source, into]) =>
        (path === source || path.startsWith(source + '/')) &&
        posix.join(into, path.slice(source.length)) === posix.join(app, path),
    );
    if (!covered) found.push(`${path} is not copied to ${posix.join(app, path)}`);
  }
  const ignored = dockerignore
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  for (const path of required)
    for (const pattern of ignored)
      // dist/ is built in the image, not taken from the context.
      if (path !== 'dist/src' && (path === pattern || path.startsWith(pattern + '/')))
        found.push(`.dockerignore leaves ${path} out (${pattern})`);
  return found;
}

const DOCKERFILE = readFileSync(`${REPO}deploy/docker/Dockerfile`, 'utf8');
const DOCKERIGNORE = readFileSync(`${REPO}.dockerignore`, 'utf8');
const PACKAGE = JSON.parse(readFileSync(`${REPO}package.json`, 'utf8')) as PackageJson;
const REQUIRED = runtimePaths(REPO);

describe('deploy/docker/Dockerfile', () => {
  test('the parser joins continuations, skips comments, and splits stages', () => {
    const stages = parseDockerfile(
      'FROM a AS one\n# note\nRUN x \\\n  # inside\n  && y\n\nFROM b\nUSER node\n',
    );
    assert.deepEqual(
      stages.map((s) => [
        s.from,
        s.name,
        s.instructions.map((i) => [i.keyword, i.args.replace(/\s+/g, ' ')]),
      ]),
      [
        ['a', 'one', [['RUN', 'x && y']]],
        ['b', undefined, [['USER', 'node']]],
      ],
    );
  });

  test('meets every requirement of the runtime image', () => {
    assert.deepEqual(problems(DOCKERFILE, PACKAGE, REQUIRED, DOCKERIGNORE), []);
  });

  test('kinesis-local is a dev dependency only', () => {
    assert.equal(PACKAGE.dependencies?.['kinesis-local'], undefined);
    assert.notEqual(PACKAGE.devDependencies?.['kinesis-local'], undefined);
  });

  test('an edited copy that breaks the image is caught, each way', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['USER node', 'USER root', /runs as root/],
      ['"/usr/bin/tini", "--", ', '', /not tini/],
      ['COPY src/pager/lua ./src/pager/lua\n', '', /src\/pager\/lua is not copied/],
      ['COPY proto ./proto', 'COPY proto ./protocol', /proto is not copied/],
      ['npm ci --omit=dev --ignore-scripts', 'npm ci --ignore-scripts', /no `npm ci --omit=dev`/],
      ['npm ci --omit=dev --ignore-scripts', 'npm ci --omit=dev', /runs prepare/],
      ['main.js", "health"]', 'main.js", "validate"]', /HEALTHCHECK runs .* not lazarus health/],
    ];
    for (const [from, to, expected] of cases) {
      assert.ok(DOCKERFILE.includes(from), `the Dockerfile no longer has "${from}": update this case`);
      const found = problems(DOCKERFILE.replace(from, to), PACKAGE, REQUIRED, DOCKERIGNORE);
      assert.ok(
        found.some((p) => expected.test(p)),
        `${from} -> ${to}: ${JSON.stringify(found)}`,
      );
    }
    const withSyntax = `# syntax=docker/dockerfile:1\n${DOCKERFILE}`;
    assert.ok(
      problems(withSyntax, PACKAGE, REQUIRED, DOCKERIGNORE).some((p) => /syntax=.*Docker Hub/.test(p)),
    );
    const oneStage = DOCKERFILE.slice(DOCKERFILE.indexOf('FROM node:20-bookworm-slim AS runtime'));
    assert.ok(problems(oneStage, PACKAGE, REQUIRED, DOCKERIGNORE).some((p) => /1 stage/.test(p)));
    const withKinesis = { ...PACKAGE, dependencies: { ...PACKAGE.dependencies, 'kinesis-local': '^0.6.2' } };
    assert.ok(
      problems(DOCKERFILE, withKinesis, REQUIRED, DOCKERIGNORE).some((p) =>
        /kinesis-local is a production/.test(p),
      ),
    );
    assert.ok(
      problems(DOCKERFILE, PACKAGE, REQUIRED, `${DOCKERIGNORE}\nrules\n`).some((p) =>
        /leaves rules out/.test(p),
      ),
    );
    // A new module's Lua directory must be copied too.
    assert.ok(
      problems(DOCKERFILE, PACKAGE, [...REQUIRED, 'src/audit/lua'], DOCKERIGNORE).some((p) =>
        /src\/audit\/lua is not copied/.test(p),
      ),
    );
  });
});
