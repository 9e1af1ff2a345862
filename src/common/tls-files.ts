/**
 * Reading a server's TLS files: a certificate and its key (the key from a file, or its PEM from an
 * environment variable), checked before they are used: a PEM certificate, the key that belongs to
 * it, valid now. Shared by the peer protocol's mutual TLS (cluster/tls.ts, which adds its CA and
 * node-name checks) and the REST API's HTTPS (api/certificate.ts). Every error names the
 * configuration field (`peers.tls.cert`, `api.tls.key_env`) and the file, so that a node that
 * cannot start says which line of region.yaml to look at.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';

/** TLS files that cannot be used; the message names the field, the file and why. */
export class TlsFilesError extends Error {}

/** Where a certificate and its key are. */
export interface KeyPairFiles {
  readonly cert: string;
  /** The key's file; not read when `keyEnv` is given. */
  readonly key?: string;
  /** An environment variable holding the key's PEM instead of the `key` file. */
  readonly keyEnv?: string;
}

/** A file's bytes, or a `TlsFilesError` naming `field` (`peers.tls.ca`) and the file. */
export async function readTlsFile(field: string, path: string, hint = ''): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new TlsFilesError(
      `${field}: ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})${hint}`,
    );
  }
}

/**
 * The key's PEM: from `$keyEnv` when it is given (empty is an error: `whose` says whose key it
 * should hold), else from the `key` file.
 */
export async function readKey(
  prefix: string,
  files: KeyPairFiles,
  whose: string,
  hint = '',
): Promise<Buffer> {
  if (files.keyEnv !== undefined) {
    const pem = process.env[files.keyEnv];
    if (pem === undefined || pem === '')
      throw new TlsFilesError(`${prefix}.key_env: $${files.keyEnv} is empty; it should hold ${whose} (PEM)`);
    return Buffer.from(pem);
  }
  if (files.key === undefined) throw new TlsFilesError(`${prefix}: neither key nor key_env is given`);
  return readTlsFile(`${prefix}.key`, files.key, hint);
}

/** The first certificate of a PEM file (a chain may follow it). */
export function parseCertificate(field: string, path: string, pem: Buffer): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (error) {
    throw new TlsFilesError(`${field}: ${path} is not a PEM certificate (${String(error)})`);
  }
}

/** Refuses a key that is not the certificate's (or is not a key at all). */
export function checkKeyFits(prefix: string, files: KeyPairFiles, cert: X509Certificate, key: Buffer): void {
  try {
    if (!cert.checkPrivateKey(createPrivateKey(key))) throw new Error('it belongs to another certificate');
  } catch (error) {
    throw new TlsFilesError(
      `${prefix}.${files.keyEnv === undefined ? `key: ${files.key ?? ''}` : `key_env: $${files.keyEnv}`} is not the key of ${files.cert} (${error instanceof Error ? error.message : String(error)})`,
    );
  }
}

/** Refuses a certificate that expired, or is not valid yet. */
export function checkValidNow(field: string, path: string, cert: X509Certificate, now = Date.now()): void {
  if (Date.parse(cert.validTo) < now) throw new TlsFilesError(`${field}: ${path} expired on ${cert.validTo}`);
  if (Date.parse(cert.validFrom) > now)
    throw new TlsFilesError(`${field}: ${path} is not valid before ${cert.validFrom}`);
}
