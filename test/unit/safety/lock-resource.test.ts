import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { LzError } from '../../../src/common/errors.js';
import { SafetyErrorCodes, scriptError } from '../../../src/safety/errors.js';
import { lockResource } from '../../../src/safety/lock.js';

describe('lockResource', () => {
  test('names host and service locks', () => {
    assert.equal(lockResource('host', 'checkout', 'web-1'), 'host:checkout/web-1');
    assert.equal(lockResource('service', 'checkout'), 'service:checkout');
    assert.equal(lockResource('service', 'checkout', 'web-1'), 'service:checkout');
  });

  test('a host lock without a host is an invalid argument', () => {
    for (const host of [undefined, '']) {
      assert.throws(
        () => lockResource('host', 'checkout', host),
        (error: unknown) =>
          error instanceof LzError &&
          error.code === SafetyErrorCodes.INVALID_ARGUMENT &&
          /needs a host name/.test(error.message),
      );
    }
    assert.throws(() => lockResource('service', ''), LzError);
  });
});

describe('scriptError', () => {
  test('carries the script and the reply, not retryable', () => {
    const error = scriptError('lock-acquire', [7, 'x']);
    assert.equal(error.code, 'LZ_ERR_SCRIPT_REPLY');
    assert.equal(error.retryable, false);
    assert.match(error.message, /lock-acquire.*\[7,"x"\]/);
  });
});
