/** Whether this machine has an IPv6 loopback (`::1`) to listen on. */
import { createServer } from 'node:net';

export function hasIpv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(0, '::1', () => probe.close(() => resolve(true)));
  });
}
