/**
 * Loads a region's configuration directory: `region.yaml`, the services file, and the rule, workflow
 * and profile libraries it points to. Every problem of the run is collected (with file, line, column
 * and path) and returned together; a valid configuration comes back compiled and deep-frozen.
 */
import { readdir } from 'node:fs/promises';
import { basename, extname, join, relative, resolve } from 'node:path';
import { deepFreeze } from '../common/freeze.js';
import { checkChannels } from './channels.js';
import { compileRegion } from './region.js';
import { loadRule } from './rules.js';
import type { LoadedRule } from './rules.js';
import { compileServices, loadProfile } from './services.js';
import type { LoadedProfile } from './services.js';
import { YamlSource, formatIssue } from './source.js';
import type { ConfigIssue } from './source.js';
import type { Catalog } from './catalog.js';
import type { CompiledConfig, CompiledWorkflow } from './types.js';
import { compileWorkflow } from './workflows.js';
import type { LoadedWorkflow } from './workflows.js';
import { LzError } from '../common/errors.js';
import { ConfigErrorCodes } from './errors.js';

export type LoadResult =
  | { readonly ok: true; readonly config: CompiledConfig }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

/** The region file's name inside a configuration directory. */
export const REGION_FILE = 'region.yaml';

export async function loadConfig(dir: string, catalog: Catalog): Promise<LoadResult> {
  const root = resolve(dir);
  const issues: ConfigIssue[] = [];
  const shown = (path: string): string => relative(process.cwd(), path) || path;

  const regionSource = await YamlSource.read(join(root, REGION_FILE), shown(join(root, REGION_FILE)), issues);
  const region = regionSource === undefined ? undefined : compileRegion(regionSource, issues, root);
  const paths = (regionSource?.value as { paths?: Record<string, string> } | undefined)?.paths ?? {};
  const pathOf = (key: string, fallback: string): string => resolve(root, paths[key] ?? fallback);

  const workflowFiles = await readLibrary(pathOf('workflows', 'workflows'), shown, issues);
  const ruleFiles = await readLibrary(pathOf('rules', 'rules'), shown, issues);
  const profileFiles = await readLibrary(pathOf('profiles', 'profiles'), shown, issues);

  const workflows = new Map<string, LoadedWorkflow>();
  for (const [name, source] of workflowFiles.sources) {
    const loaded = compileWorkflow(source, catalog, issues);
    if (loaded !== undefined) workflows.set(name, loaded);
  }
  const rules = new Map<string, LoadedRule>();
  for (const [name, source] of ruleFiles.sources) {
    const loaded = loadRule(source, catalog, workflows, workflowFiles.names, issues);
    if (loaded !== undefined) rules.set(name, loaded);
  }
  const profiles = new Map<string, LoadedProfile>();
  for (const [name, source] of profileFiles.sources) {
    const loaded = loadProfile(source, ruleFiles.names, issues);
    if (loaded !== undefined) profiles.set(name, loaded);
  }
  const servicesPath = pathOf('services', 'services.yaml');
  const servicesSource = await YamlSource.read(servicesPath, shown(servicesPath), issues);
  const services =
    servicesSource === undefined || servicesSource.value === undefined
      ? new Map()
      : compileServices(servicesSource, profiles, profileFiles.names, rules, catalog, issues);

  if (region !== undefined && regionSource !== undefined)
    checkChannels(region, regionSource, servicesSource, profiles, issues);

  if (issues.length > 0 || region === undefined) return { ok: false, issues: sortIssues(issues) };
  const config: CompiledConfig = {
    dir: root,
    region,
    services,
    workflows: new Map<string, CompiledWorkflow>([...workflows].map(([name, w]) => [name, w.workflow])),
    profiles: new Map(
      [...profiles].map(([name, p]) => [
        name,
        { name, description: p.profile.description ?? '', rules: p.profile.rules },
      ]),
    ),
  };
  return { ok: true, config: deepFreeze(config) };
}

/** Loads or throws an `LzError` (`LZ_ERR_CONFIG_INVALID`) whose message lists every issue. */
export async function loadConfigOrThrow(dir: string, catalog: Catalog): Promise<CompiledConfig> {
  const result = await loadConfig(dir, catalog);
  if (result.ok) return result.config;
  const error = new LzError(
    ConfigErrorCodes.INVALID,
    `configuration in ${dir} has ${result.issues.length} problem(s):\n${result.issues.map(formatIssue).join('\n')}`,
  );
  throw Object.assign(error, { issues: result.issues });
}

/**
 * Every `*.yaml` / `*.yml` of a library directory, by name. A document's `name` must be its file's
 * name, so that `unknown workflow "x"` always means "there is no workflows/x.yaml".
 */
async function readLibrary(
  dir: string,
  shown: (p: string) => string,
  issues: ConfigIssue[],
): Promise<Library> {
  const out = new Map<string, YamlSource>();
  const names = new Set<string>();
  let entries: string[];
  try {
    entries = (await readdir(dir)).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml')).sort();
  } catch (error) {
    issues.push({
      file: shown(dir),
      line: 0,
      col: 0,
      path: '',
      message: `cannot read directory: ${(error as Error).message}`,
    });
    return { sources: out, names };
  }
  for (const entry of entries) {
    const name = basename(entry, extname(entry));
    // Known even when the file is broken, so that its users do not also report it as unknown.
    names.add(name);
    const source = await YamlSource.read(join(dir, entry), shown(join(dir, entry)), issues);
    if (source === undefined || source.value === undefined) continue;
    const value: unknown = source.value;
    const declared =
      typeof value === 'object' && value !== null ? (value as { name?: unknown }).name : undefined;
    if (typeof declared === 'string' && declared !== name) {
      issues.push(source.issue(['name'], `name "${declared}" must match the file name "${name}"`));
      continue;
    }
    if (out.has(name)) {
      issues.push(
        source.issue([], `"${name}" is defined twice (${entry} and another file with the same name)`),
      );
      continue;
    }
    out.set(name, source);
  }
  return { sources: out, names };
}

interface Library {
  /** The files that parsed, by name. */
  readonly sources: ReadonlyMap<string, YamlSource>;
  /** Every file's name, parsed or not. */
  readonly names: ReadonlySet<string>;
}

function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return [...issues].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col);
}
