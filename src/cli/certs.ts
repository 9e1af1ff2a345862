/**
 * `lazarus certs [--config DIR] [--out DIR]`: the region's peer CA (kept when the directory has one,
 * so that certificates issued before stay valid) and a certificate and key for each node of
 * region.yaml, naming the node's id (and its gRPC and API hosts). Prints what it wrote and what
 * region.yaml's `peers.tls` (and, for HTTPS, `api.tls`) says.
 */
import { join, relative } from 'node:path';
import { writeRegionCertificates } from '../cluster/certs.js';
import { loadConfig } from '../config/load.js';
import { formatIssue } from '../config/source.js';
import { defaultCatalog } from '../controller/catalog.js';

export async function certsCommand(
  dir: string,
  options: {
    readonly out?: string;
    readonly caDir?: string;
    readonly nodes?: readonly string[];
    readonly days: number;
    readonly newCa: boolean;
  },
  out: NodeJS.WritableStream,
): Promise<number> {
  if (!Number.isInteger(options.days) || options.days < 1) {
    out.write(`--days must be a whole number of days, at least 1\n`);
    return 2;
  }
  const result = await loadConfig(dir, defaultCatalog());
  if (!result.ok) {
    for (const issue of result.issues) out.write(formatIssue(issue) + '\n');
    return 1;
  }
  const { region } = result.config;
  const unknown = (options.nodes ?? []).filter((id) => !region.nodes.some((n) => n.id === id));
  if (unknown.length > 0) {
    out.write(
      `--node ${unknown.join(', ')}: not in region.yaml (nodes: ${region.nodes.map((n) => n.id).join(', ')})\n`,
    );
    return 2;
  }
  const nodes =
    options.nodes === undefined || options.nodes.length === 0
      ? region.nodes
      : region.nodes.filter((n) => options.nodes?.includes(n.id));
  const target = options.out ?? join(dir, 'certs');
  const written = await writeRegionCertificates(target, region.region, nodes, {
    days: options.days,
    newCa: options.newCa,
    ...(options.caDir === undefined ? {} : { caDir: options.caDir }),
  }).catch((error: unknown) => {
    out.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return undefined;
  });
  if (written === undefined) return 1;
  for (const file of written) out.write(`wrote ${file}\n`);
  const rel = relative(dir, target) || '.';
  out.write(
    `\nregion.yaml:\n  peers:\n    tls:\n      ca: ${rel}/ca.pem\n      cert: ${rel}/{node}.pem\n      key: ${rel}/{node}-key.pem\n` +
      `  api:   # HTTPS for the REST API too (each certificate names its node's API host); clients: --ca ${rel}/ca.pem\n` +
      `    tls:\n      cert: ${rel}/{node}.pem\n      key: ${rel}/{node}-key.pem\n` +
      `Keep ca-key.pem off the nodes; a running node picks up a new certificate on SIGHUP or within seconds.\n`,
  );
  return 0;
}
