/**
 * Mutual TLS for the peer protocol. Every node presents a certificate signed by the region's CA
 * that names its node id (a DNS subject alternative name, see certs.ts):
 * - a client checks that the peer it called is the node it meant (the node id is the TLS server
 *   name it verifies), so a vote can only come from the node it is counted for;
 * - the server requires a client certificate from the CA and serves only the region's nodes
 *   (`peerNodeIds`), and a request's coordinator must be the node its certificate names.
 *
 * The files are read again on `reload()` (the node calls it on SIGHUP and when they change): new
 * connections get the new certificate; connections open now go on, so no vote is dropped. A
 * reload that finds something wrong (a key that is not the certificate's, a certificate the CA did
 * not sign, or that does not name the node) keeps the old files in use and says why.
 */
import * as grpc from '@grpc/grpc-js';
import {
  checkKeyFits,
  checkValidNow,
  parseCertificate,
  readKey,
  readTlsFile,
  TlsFilesError,
} from '../common/tls-files.js';
import { dnsNames, sanDnsNames } from './certs.js';

/** The configuration fields the errors name. */
const PREFIX = 'peers.tls';

/** Where a node's TLS material is. */
export interface PeerTlsFiles {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  /** An environment variable holding the key's PEM instead of the `key` file. */
  readonly keyEnv?: string;
}

/** A node's own files of the region's `peers.tls`, whose paths may hold `{node}` for its id. */
export function nodeTlsFiles(tls: PeerTlsFiles, nodeId: string): PeerTlsFiles {
  return {
    ca: tls.ca,
    cert: tls.cert.replaceAll('{node}', nodeId),
    key: tls.key.replaceAll('{node}', nodeId),
    ...(tls.keyEnv === undefined ? {} : { keyEnv: tls.keyEnv }),
  };
}

type CaListener = (update: { caCertificate: Buffer } | null) => void;
type IdentityListener = (update: { certificate: Buffer; privateKey: Buffer } | null) => void;

interface Material {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly serial: string;
}

/** A node's CA and identity, as grpc-js's certificate providers want them, reloadable. */
export class PeerIdentity {
  #material: Material;
  readonly #ca = new Set<CaListener>();
  readonly #identity = new Set<IdentityListener>();

  private constructor(
    readonly nodeId: string,
    /** The region's node ids: a certificate must name exactly one of them. */
    readonly nodes: readonly string[],
    private readonly files: PeerTlsFiles,
    material: Material,
  ) {
    this.#material = material;
  }

  /** `nodes`: the region's node ids (this node's certificate must name it and no other of them). */
  static async load(
    nodeId: string,
    files: PeerTlsFiles,
    nodes: readonly string[] = [nodeId],
  ): Promise<PeerIdentity> {
    return new PeerIdentity(nodeId, nodes, files, await readMaterial(nodeId, files, nodes));
  }

  /** The serial number of the certificate in use. */
  get serial(): string {
    return this.#material.serial;
  }

  /**
   * Reads the files again; `true` when a new certificate is in use. Rejects (and keeps the one in
   * use) when the files cannot be used.
   */
  async reload(): Promise<boolean> {
    const next = await readMaterial(this.nodeId, this.files, this.nodes);
    const same =
      next.cert.equals(this.#material.cert) &&
      next.key.equals(this.#material.key) &&
      next.ca.equals(this.#material.ca);
    if (same) return false;
    this.#material = next;
    for (const listener of this.#ca) listener({ caCertificate: next.ca });
    for (const listener of this.#identity) listener({ certificate: next.cert, privateKey: next.key });
    return true;
  }

  /**
   * grpc-js's certificate provider interface (both the CA and the identity). A new listener hears
   * the current files on the next microtask, not at once: grpc-js registers its watcher only after
   * adding the listener, and an answer given synchronously would reach nobody (the server would
   * then drop every connection as having no credentials).
   */
  readonly provider = {
    addCaCertificateListener: (listener: CaListener): void => {
      this.#ca.add(listener);
      queueMicrotask(() => {
        if (this.#ca.has(listener)) listener({ caCertificate: this.#material.ca });
      });
    },
    removeCaCertificateListener: (listener: CaListener): void => {
      this.#ca.delete(listener);
    },
    addIdentityCertificateListener: (listener: IdentityListener): void => {
      this.#identity.add(listener);
      queueMicrotask(() => {
        if (this.#identity.has(listener))
          listener({ certificate: this.#material.cert, privateKey: this.#material.key });
      });
    },
    removeIdentityCertificateListener: (listener: IdentityListener): void => {
      this.#identity.delete(listener);
    },
  };

  /** Server credentials that require a client certificate from the region's CA. */
  serverCredentials(): grpc.ServerCredentials {
    return grpc.experimental.createCertificateProviderServerCredentials(this.provider, this.provider, true);
  }

  /**
   * Channel credentials that present this node's certificate, trust the region's CA, and accept a
   * peer only when its certificate names `peer` and no other node of the region, exactly (no
   * wildcard, no common name, case as written): on top of TLS's own check of the server name, which
   * `expectPeer` sets to the node id.
   */
  channelCredentials(peer: string): grpc.ChannelCredentials {
    return grpc.experimental.createCertificateProviderChannelCredentials(this.provider, this.provider, {
      checkServerIdentity: (_host, cert) => {
        const names = sanDnsNames(cert.subjectaltname);
        const nodes = names.filter((n) => this.nodes.includes(n));
        return nodes.length === 1 && nodes[0] === peer
          ? undefined
          : new Error(
              `the peer's certificate names ${names.join(', ') || 'no node'}: not exactly node ${peer}`,
            );
      },
    });
  }
}

/**
 * Channel options that make a client verify that the peer at `address` is node `nodeId`: the TLS
 * server name it checks the certificate against is the node id, not the address.
 */
export function expectPeer(nodeId: string): grpc.ChannelOptions {
  return { 'grpc.ssl_target_name_override': nodeId, 'grpc.default_authority': nodeId };
}

/** The names each connection's client certificate gives, by its HTTP/2 session. */
const namesBySession = new WeakMap<object, readonly string[]>();

/**
 * The HTTP/2 session a server call came on, if grpc-js's call objects are as this version builds
 * them (the call's `call`, through any interceptors' `nextCall`, to the one with the `stream`);
 * `undefined` otherwise, and the certificate is then read for the call itself.
 */
export function sessionOf(call: object): object | undefined {
  let inner: unknown = (call as { call?: unknown }).call;
  for (let hops = 0; hops < 8 && typeof inner === 'object' && inner !== null; hops++) {
    const stream = (inner as { stream?: { session?: unknown } }).stream;
    if (stream !== undefined)
      return typeof stream.session === 'object' ? (stream.session ?? undefined) : undefined;
    inner = (inner as { nextCall?: unknown }).nextCall;
  }
  return undefined;
}

/**
 * The node ids a call's client certificate names (none over an insecure connection). Read once per
 * connection: a TLS connection's peer certificate cannot change, and reading it (getPeerCertificate)
 * cost 3% of a node's CPU when done for every call.
 */
export function peerNodeIds(call: Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getAuthContext'>): string[] {
  const session = sessionOf(call);
  const known = session === undefined ? undefined : namesBySession.get(session);
  if (known !== undefined) return [...known];
  const names = sanDnsNames(call.getAuthContext()?.sslPeerCertificate?.subjectaltname);
  // Only a verified certificate's names are kept (an insecure or unauthorised connection has none).
  if (session !== undefined && names.length > 0) namesBySession.set(session, names);
  return names;
}

async function readMaterial(
  nodeId: string,
  files: PeerTlsFiles,
  nodes: readonly string[],
): Promise<Material> {
  const hint = "; `lazarus certs --config DIR` writes a region's certificates";
  const keyPair = files.keyEnv === undefined ? files : { cert: files.cert, keyEnv: files.keyEnv };
  // The variable is looked at before any file is read, as a missing file would hide it.
  const envKey =
    files.keyEnv === undefined ? undefined : await readKey(PREFIX, keyPair, `node ${nodeId}'s key`);
  const [ca, cert, key] = await Promise.all([
    readTlsFile(`${PREFIX}.ca`, files.ca, hint),
    readTlsFile(`${PREFIX}.cert`, files.cert, hint),
    envKey ?? readKey(PREFIX, keyPair, `node ${nodeId}'s key`, hint),
  ]);
  const caX = parseCertificate(`${PREFIX}.ca`, files.ca, ca);
  const certX = parseCertificate(`${PREFIX}.cert`, files.cert, cert);
  if (!certX.verify(caX.publicKey))
    throw new TlsFilesError(`${PREFIX}.cert: ${files.cert} is not signed by the CA in ${files.ca}`);
  const named = dnsNames(certX).filter((n) => nodes.includes(n) || n === nodeId);
  if (named.length !== 1 || named[0] !== nodeId)
    throw new TlsFilesError(
      `${PREFIX}.cert: ${files.cert} names ${dnsNames(certX).join(', ') || 'no node'}: it must name node ${nodeId} and no other node of the region`,
    );
  checkKeyFits(PREFIX, keyPair, certX, key);
  const now = Date.now();
  checkValidNow(`${PREFIX}.cert`, files.cert, certX, now);
  checkValidNow(`${PREFIX}.ca`, files.ca, caX, now);
  return { ca, cert, key, serial: certX.serialNumber };
}
