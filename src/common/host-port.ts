/** `host:port` addresses as the configuration and sensors write them: `[v6]:port` for IPv6. */

const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/;

/** The host and port of an address, or `undefined` when it is not `host:port` / `[v6]:port`. */
export function splitHostPort(address: string): { host: string; port: number } | undefined {
  const match = HOST_PORT.exec(address.trim());
  const port = Number(match?.[3]);
  const host = match?.[1] ?? match?.[2];
  return host === undefined || !(port >= 0 && port <= 65535) ? undefined : { host, port };
}

/** Like {@link splitHostPort}, and a clear error for an address that is not one. */
export function parseHostPort(address: string): { host: string; port: number } {
  const parsed = splitHostPort(address);
  if (parsed === undefined)
    throw new Error(`"${address}" is not a host:port address (e.g. 127.0.0.1:8181 or [::1]:8181)`);
  return parsed;
}
