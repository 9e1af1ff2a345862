/**
 * The Kinesis client's region: the one region.yaml gives, else the AWS SDK's own chain (here
 * `AWS_REGION`), never a silent `us-east-1`; an emulator's endpoint takes any region.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { kinesisClient } from '../../../src/ingest/kinesis-client.js';

test('kinesis.region: as configured, else the SDK chain (AWS_REGION); an emulator gets one it accepts', async () => {
  const before = process.env['AWS_REGION'];
  process.env['AWS_REGION'] = 'eu-central-1';
  try {
    const configured = kinesisClient({ region: 'ap-south-1' });
    assert.equal(await configured.config.region(), 'ap-south-1');
    const chained = kinesisClient({});
    assert.equal(await chained.config.region(), 'eu-central-1');
    const local = kinesisClient({ endpoint: 'http://127.0.0.1:1' });
    assert.equal(await local.config.region(), 'us-east-1');
    for (const c of [configured, chained, local]) c.destroy();
  } finally {
    if (before === undefined) delete process.env['AWS_REGION'];
    else process.env['AWS_REGION'] = before;
  }
});
