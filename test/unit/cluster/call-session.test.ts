/**
 * The peer server reads a client certificate's names once per connection, by the call's HTTP/2
 * session (tls.ts). That needs grpc-js's call objects as this version builds them: if an upgrade
 * changes them, this fails (the server would still be right, reading the certificate for every
 * call, only slower).
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { peerService } from '../../../src/cluster/proto.js';
import { sessionOf } from '../../../src/cluster/tls.js';

describe('sessionOf', () => {
  test("a server call's HTTP/2 session: the same for the calls of one connection, another for another", async () => {
    const Peer = peerService();
    const sessions: (object | undefined)[] = [];
    const server = new grpc.Server();
    server.addService(Peer.service, {
      Ping: (call: grpc.ServerUnaryCall<unknown, unknown>, done: grpc.sendUnaryData<unknown>) => {
        sessions.push(sessionOf(call));
        done(null, { node: 'a', state: 'running' });
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
        e === null ? resolve(p) : reject(e),
      ),
    );
    const ping = (client: grpc.Client): Promise<void> =>
      new Promise((resolve, reject) =>
        (
          client as unknown as {
            Ping: (r: object, cb: (e: grpc.ServiceError | null) => void) => void;
          }
        ).Ping({ from: 'b' }, (e) => (e === null ? resolve() : reject(e))),
      );
    const one = new Peer(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const two = new Peer(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1,
    });
    try {
      await ping(one);
      await ping(one);
      await ping(two);
      const [first, again, other] = sessions;
      assert.ok(typeof first === 'object' && first !== null, 'a session is found');
      assert.equal(again, first, 'the same connection, the same session');
      assert.notEqual(other, first, 'another connection, another session');
    } finally {
      one.close();
      two.close();
      server.forceShutdown();
    }
  });
});
