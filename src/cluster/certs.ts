/**
 * Certificates for the peer protocol's mutual TLS: a region's CA, and one certificate per node
 * that names the node's id (a DNS subject alternative name) and its gRPC and REST API hosts. Keys
 * are made by Node's own crypto (RSA 2048); node-forge writes and signs the X.509 certificates,
 * which Node's crypto cannot.
 */
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { splitHostPort } from '../common/host-port.js';
import type * as Forge from 'node-forge';

// node-forge is CommonJS with one exported object: required, so that plain Node's ESM loader (no
// bundler interop) sees its members.
const forge = createRequire(import.meta.url)('node-forge') as typeof Forge;

export interface Pem {
  readonly cert: string;
  readonly key: string;
}

const DAY_MS = 86_400_000;

function rsaKey(): { forgeKey: Forge.pki.rsa.PrivateKey; publicKey: Forge.pki.rsa.PublicKey; pem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(pem);
  return { forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e), pem };
}

function base(subject: string, days: number, publicKey: Forge.pki.PublicKey): Forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // Positive, 16 bytes: unique enough that a reissued certificate is told from the old one.
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  cert.validity.notBefore = new Date(Date.now() - 5 * 60_000);
  cert.validity.notAfter = new Date(Date.now() + days * DAY_MS);
  cert.setSubject([{ name: 'commonName', value: subject }]);
  return cert;
}

/** A new CA for a region. */
export function createCa(region: string, days = 3650): Pem {
  const key = rsaKey();
  const cert = base(`lazarus ${region} peer CA`, days, key.publicKey);
  cert.setIssuer(cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(key.forgeKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: key.pem };
}

/**
 * A node's certificate, signed by `ca`: its id as a DNS name (what peers check), and its hosts (an
 * IP address or DNS name each: the gRPC address's, and the REST API's) so that ordinary TLS
 * clients can check it too; it can serve the REST API (`api.tls`) as well. Client and server use.
 */
export function issueNodeCertificate(
  ca: Pem,
  nodeId: string,
  hosts: string | readonly (string | undefined)[] | undefined,
  days = 825,
  /** The region's other node ids: a host that is one of them (in any case) is not named. */
  others: readonly string[] = [],
): Pem {
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(ca.key);
  const key = rsaKey();
  const cert = base(nodeId, days, key.publicKey);
  cert.setIssuer(caCert.subject.attributes);
  const names: { type: number; value?: string; ip?: string }[] = [{ type: 2, value: nodeId }];
  const seen = new Set([nodeId]);
  for (const host of typeof hosts === 'string' ? [hosts] : (hosts ?? [])) {
    // Another node's id among the names would make this certificate that node's too.
    const clash = others.some((o) => o.toLowerCase() === host?.toLowerCase());
    // An address to listen on every interface (0.0.0.0, ::) is nobody's name.
    if (host === undefined || seen.has(host) || clash || host === '0.0.0.0' || host === '::') continue;
    seen.add(host);
    names.push(isIP(host) === 0 ? { type: 2, value: host } : { type: 7, ip: host });
  }
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    { name: 'subjectAltName', altNames: names },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: key.pem };
}

/** The DNS names a certificate's subject alternative names give (a node certificate: its node id). */
export function dnsNames(cert: X509Certificate | string): string[] {
  const x = typeof cert === 'string' ? new X509Certificate(cert) : cert;
  return sanDnsNames(x.subjectAltName);
}

/** The DNS names of a `subjectAltName` string as Node gives it (`DNS:a, IP Address:127.0.0.1`). */
export function sanDnsNames(subjectAltName: string | undefined): string[] {
  return (subjectAltName ?? '')
    .split(', ')
    .filter((n) => n.startsWith('DNS:'))
    .map((n) => n.slice(4));
}

/** The files `lazarus certs` writes for a region, under `dir`. */
export function certificateFiles(
  dir: string,
  nodeId?: string,
): { ca: string; caKey: string; cert: string; key: string } {
  return {
    ca: join(dir, 'ca.pem'),
    caKey: join(dir, 'ca-key.pem'),
    cert: join(dir, `${nodeId ?? '{node}'}.pem`),
    key: join(dir, `${nodeId ?? '{node}'}-key.pem`),
  };
}

/**
 * Writes a region's CA (kept when `dir` has one already, so that certificates issued before stay
 * valid) and a fresh certificate and key for each node. Keys are readable by their owner only.
 * Resolves with the files written.
 */
export async function writeRegionCertificates(
  dir: string,
  region: string,
  /** Each node's id, gRPC address and (named in its certificate too) REST API address. */
  nodes: readonly { readonly id: string; readonly grpc: string; readonly api?: string }[],
  options: {
    readonly days?: number;
    readonly newCa?: boolean;
    /** Where the CA and its key are kept (a copy of the CA certificate goes to `dir`). @defaultValue dir */
    readonly caDir?: string;
  } = {},
): Promise<string[]> {
  const caDir = options.caDir ?? dir;
  for (const d of new Set([dir, caDir])) {
    await mkdir(d, { recursive: true, mode: 0o700 });
    await chmod(d, 0o700);
  }
  const files = certificateFiles(caDir);
  const written: string[] = [];
  let ca: Pem | undefined;
  if (options.newCa !== true) {
    const cert = await readFile(files.ca, 'utf8').catch(() => undefined);
    const key = await readFile(files.caKey, 'utf8').catch(() => undefined);
    // A CA without its key (moved off the machine, as it should be) is not silently replaced: the
    // nodes would switch to the new one as soon as they see it, and stop trusting each other.
    if (cert !== undefined && key === undefined)
      throw new Error(
        `${files.ca} has no ${files.caKey} beside it: put the CA key back to issue certificates from it, or say --new-ca (every node then needs its new certificate)`,
      );
    if (cert !== undefined && key !== undefined) ca = { cert, key };
  }
  if (ca === undefined) {
    ca = createCa(region);
    await writeFile(files.ca, ca.cert);
    await writeFile(files.caKey, ca.key, { mode: 0o600 });
    await chmod(files.caKey, 0o600);
    written.push(files.ca, files.caKey);
  }
  if (caDir !== dir) {
    const copy = certificateFiles(dir).ca;
    await writeFile(copy, ca.cert);
    written.push(copy);
  }
  for (const node of nodes) {
    const own = certificateFiles(dir, node.id);
    const others = nodes.filter((n) => n.id !== node.id).map((n) => n.id);
    const hosts = [hostOf(node.grpc), node.api === undefined ? undefined : hostOf(node.api)];
    const pem = issueNodeCertificate(ca, node.id, hosts, options.days, others);
    await writeFile(own.cert, pem.cert);
    await writeFile(own.key, pem.key, { mode: 0o600 });
    await chmod(own.key, 0o600);
    written.push(own.cert, own.key);
  }
  return written;
}

/** The host of `host:port` or `[v6]:port`. */
function hostOf(address: string): string | undefined {
  return splitHostPort(address)?.host;
}
