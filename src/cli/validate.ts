/**
 * `lazarus validate [--config DIR] [--env]`: every problem of the configuration, exit 1 on any.
 * With `--env`, also every environment variable it names for a secret that is not set (run it
 * where the nodes run, with their environment).
 */
import { environmentVariables, literalSecrets } from '../config/region.js';
import { loadConfig } from '../config/load.js';
import { formatIssue } from '../config/source.js';
import { defaultCatalog } from '../controller/catalog.js';
import { table } from './format.js';

export async function validateCommand(
  dir: string,
  out: NodeJS.WritableStream,
  options: { readonly checkEnv?: boolean; readonly env?: NodeJS.ProcessEnv } = {},
): Promise<number> {
  const result = await loadConfig(dir, defaultCatalog());
  if (!result.ok) {
    for (const issue of result.issues) out.write(formatIssue(issue) + '\n');
    out.write(`\n${result.issues.length} problem(s) in ${dir}\n`);
    return 1;
  }
  const { config } = result;
  if (options.checkEnv === true) {
    const env = options.env ?? process.env;
    const missing = environmentVariables(config.region).filter((v) => (env[v.name] ?? '') === '');
    for (const v of missing) out.write(`${dir}: environment variable ${v.name} (${v.what}) is not set\n`);
    if (missing.length > 0) {
      out.write(`\n${missing.length} environment variable(s) missing\n`);
      return 1;
    }
  }
  const rules = new Set([...config.services.values()].flatMap((s) => s.rules.map((r) => r.name)));
  out.write(
    `${dir}: valid. Region ${config.region.region}, ${config.region.nodes.length} nodes (quorum ${config.region.quorum}), ` +
      `${config.services.size} services, ${config.profiles.size} profiles, ${rules.size} rules in use, ${config.workflows.size} workflows.\n\n`,
  );
  const rows = [['SERVICE', 'PROFILE', 'MODE', 'RULES']];
  for (const service of config.services.values()) {
    rows.push([
      service.name,
      service.profile,
      service.parameters.mode,
      service.rules.map((r) => r.name).join(', '),
    ]);
  }
  out.write(table(rows) + '\n');
  if ('insecure' in config.region.peers)
    out.write(
      '\nwarning: peers.insecure is true: votes between nodes are not authenticated, and anything that reaches a peer port can cast one. Use peers.tls (`lazarus certs` writes the files).\n',
    );
  for (const warning of literalSecrets(config.region)) out.write(`\nwarning: ${warning}\n`);
  const redis = config.region.redis;
  if (redis.mode !== 'standalone' && redis.replicaAck.replicas === 0)
    out.write(
      `\nwarning: redis.mode is ${redis.mode} with replica_ack.replicas 0: locks are not waited for on a replica, so a failover can forget one (two runs on one host become possible). Set replica_ack.replicas to 1 when the primaries have replicas.\n`,
    );
  return 0;
}
