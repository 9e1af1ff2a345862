/**
 * The REST API's certificate (`api.tls`): its certificate (a chain may follow it in the file) and
 * key, read and checked before the API serves them (a PEM certificate, the key that belongs to it,
 * valid now), and read again on `reload()` (the node calls it on SIGHUP and when the files change).
 * A reload that finds something wrong keeps the certificate in use and says why.
 *
 * Unlike the peers' certificate, nothing checks which names it gives: clients reach the API by
 * whatever name the operator gives it (a load balancer's, a DNS alias), and their TLS checks it.
 */
import type { X509Certificate } from 'node:crypto';
import { checkKeyFits, checkValidNow, parseCertificate, readKey, readTlsFile } from '../common/tls-files.js';
import type { KeyPairFiles } from '../common/tls-files.js';

const PREFIX = 'api.tls';

/** A certificate (PEM, perhaps with its chain) and its key, as node:https takes them. */
export interface ServedCertificate {
  readonly cert: Buffer;
  readonly key: Buffer;
}

export class ApiCertificate {
  #pem: ServedCertificate;
  #x509: X509Certificate;

  private constructor(
    /** The files, `{node}` already replaced. */
    readonly files: KeyPairFiles,
    pem: ServedCertificate,
    x509: X509Certificate,
  ) {
    this.#pem = pem;
    this.#x509 = x509;
  }

  /** Reads and checks the files; rejects with a `TlsFilesError` naming the field and the file. */
  static async load(files: KeyPairFiles): Promise<ApiCertificate> {
    const { pem, x509 } = await read(files);
    return new ApiCertificate(files, pem, x509);
  }

  /** What the API serves now. */
  get pem(): ServedCertificate {
    return this.#pem;
  }

  /** The serial number of the certificate in use. */
  get serial(): string {
    return this.#x509.serialNumber;
  }

  /** The names the certificate gives (`DNS:api.example.com, IP Address:10.0.0.5`), for the log. */
  get names(): string {
    return this.#x509.subjectAltName ?? '';
  }

  /** When the certificate in use expires. */
  get validTo(): string {
    return this.#x509.validTo;
  }

  /**
   * Reads the files again; when they hold a new certificate or key, hands it to `apply` (the server
   * serves it from then on) and resolves `true`. Rejects, and keeps the one in use, when the files
   * cannot be used or `apply` throws.
   */
  async reload(apply: (pem: ServedCertificate) => void): Promise<boolean> {
    const next = await read(this.files);
    if (next.pem.cert.equals(this.#pem.cert) && next.pem.key.equals(this.#pem.key)) return false;
    apply(next.pem);
    this.#pem = next.pem;
    this.#x509 = next.x509;
    return true;
  }
}

async function read(files: KeyPairFiles): Promise<{ pem: ServedCertificate; x509: X509Certificate }> {
  const [cert, key] = await Promise.all([
    readTlsFile(`${PREFIX}.cert`, files.cert),
    readKey(PREFIX, files, "the REST API's key"),
  ]);
  const x509 = parseCertificate(`${PREFIX}.cert`, files.cert, cert);
  checkKeyFits(PREFIX, files, x509, key);
  checkValidNow(`${PREFIX}.cert`, files.cert, x509);
  return { pem: { cert, key }, x509 };
}
