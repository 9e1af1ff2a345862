/**
 * deploy/example-aws: a real region's configuration (real Kinesis, rediss:// Redis, PagerDuty,
 * Slack and SMTP through the environment) passes `lazarus validate --env` with its variables set
 * (to dummy values), and fails naming each one when they are not.
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { validateCommand } from '../../../src/cli/validate.js';
import { REPO } from '../../helpers/config-copy.js';

const DIR = join(REPO, 'deploy', 'example-aws');
const VARIABLES = [
  'LAZARUS_API_TOKEN',
  'LAZARUS_TOKEN_PROMETHEUS',
  'LAZARUS_TOKEN_CONSOLE',
  'LAZARUS_API_TLS_KEY',
  'PAGERDUTY_TOKEN',
  'LAZARUS_REDIS_URL',
  'LAZARUS_SLACK_OPS',
  'LAZARUS_SMTP_USER',
  'LAZARUS_SMTP_PASSWORD',
];

async function validate(env: NodeJS.ProcessEnv): Promise<{ code: number; text: string }> {
  let text = '';
  const out = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  const code = await validateCommand(DIR, out, { checkEnv: true, env });
  return { code, text };
}

test('deploy/example-aws: valid with its environment; each missing variable named without it', async () => {
  const all = Object.fromEntries(VARIABLES.map((v) => [v, `dummy-${v.toLowerCase()}`]));
  const ok = await validate(all);
  assert.equal(ok.code, 0, ok.text);
  assert.match(ok.text, /valid\. Region eu-west-1, 3 nodes \(quorum 2\), 2 services/);
  // Nothing written in the file is a secret: no warning.
  assert.doesNotMatch(ok.text, /warning/);

  const none = await validate({});
  assert.equal(none.code, 1);
  for (const v of VARIABLES) assert.match(none.text, new RegExp(`environment variable ${v} \\(`), v);
  assert.match(none.text, /9 environment variable\(s\) missing/);
  // One missing is named alone; an empty value is as good as none.
  const one = await validate({ ...all, PAGERDUTY_TOKEN: '' });
  assert.equal(one.code, 1);
  assert.match(
    one.text,
    /environment variable PAGERDUTY_TOKEN \(pagerduty.token_env\) is not set\n\n1 environment variable\(s\) missing/,
  );
});
