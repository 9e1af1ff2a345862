import { Agent } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  KinesisClient,
  ResourceInUseException,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';

// The SDK warns in every process that its releases after January 2027 need Node 22. Node 20 is what
// this project supports (README); the warning would be printed by every node and every `submit`.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

/** Options of {@link kinesisClient}. */
export interface KinesisClientOptions {
  /**
   * URL of a local emulator (kinesis-local), e.g. `http://127.0.0.1:4568`. When set, the client
   * signs with dummy credentials and talks HTTP/1.1.
   * @defaultValue none: real AWS, with the SDK's endpoint, credential chain and HTTP/2 handler
   */
  endpoint?: string;
  /**
   * @defaultValue the AWS SDK's own region chain (`AWS_REGION`, the shared config files, the
   * instance's metadata); `us-east-1` with an `endpoint` (an emulator takes any region)
   */
  region?: string | undefined;
}

/**
 * Credentials for the emulator. Not a 12-digit number on purpose: kinesis-local takes a 12-digit
 * access key id as the account to keep streams under; anything else is its default account.
 */
const LOCAL_CREDENTIALS = { accessKeyId: 'lazarus-local', secretAccessKey: 'lazarus-local' };

/** A Kinesis client for real AWS (no `endpoint`) or for a local emulator (`endpoint`). */
export function kinesisClient(options: KinesisClientOptions): KinesisClient {
  if (options.endpoint === undefined) {
    // No region: the SDK finds it (and the credentials) by its default chains.
    return new KinesisClient(options.region === undefined ? {} : { region: options.region });
  }
  return new KinesisClient({
    region: options.region ?? 'us-east-1',
    endpoint: options.endpoint,
    credentials: LOCAL_CREDENTIALS,
    // The SDK's default for Kinesis is an HTTP/2 handler; against kinesis-local's plain port it
    // failed about 4% of requests. HTTP/1.1 with keep-alive did not fail.
    requestHandler: new NodeHttpHandler({
      httpAgent: new Agent({ keepAlive: true, maxSockets: 64 }),
      // The emulator shares a loaded test machine with everything else: a connection may take a while.
      connectionTimeout: 5_000,
      requestTimeout: 10_000,
      throwOnRequestTimeout: true,
    }),
  });
}

/** Options of {@link ensureStream}. */
export interface EnsureStreamOptions {
  /**
   * How long to wait for the stream to become ACTIVE. kinesis-local takes 0.5 s; AWS usually less
   * than a minute.
   * @defaultValue 120 s
   */
  timeoutMs?: number;
}

// kinesis-local settles in 500 ms, so poll briskly at first; DescribeStreamSummary is limited to
// 20 calls/s per account on AWS, where creation takes tens of seconds, so back off after that.
const FIRST_POLL_MS = 100;
const BRISK_FOR_MS = 2_000;
const MAX_POLL_MS = 2_000;

/**
 * Creates the stream with `shards` shards unless it exists (an existing stream is kept as it is,
 * whatever its shard count), then waits until it is ACTIVE.
 */
export async function ensureStream(
  client: KinesisClient,
  name: string,
  shards: number,
  options: EnsureStreamOptions = {},
): Promise<void> {
  try {
    await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  } catch (error) {
    // It exists already, or is being created by someone else: either way, wait for ACTIVE.
    if (!(error instanceof ResourceInUseException)) {
      throw error;
    }
  }
  const timeoutMs = options.timeoutMs ?? 120_000;
  const started = Date.now();
  const deadline = started + timeoutMs;
  let pollMs = FIRST_POLL_MS;
  let status: string | undefined;
  for (;;) {
    const summary = await client.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    status = summary.StreamDescriptionSummary?.StreamStatus;
    if (status === 'ACTIVE') {
      return;
    }
    if (Date.now() + pollMs > deadline) {
      throw new Error(`Kinesis stream ${name} is still ${status ?? 'unknown'} after ${timeoutMs} ms`);
    }
    await delay(pollMs);
    if (Date.now() - started > BRISK_FOR_MS) {
      pollMs = Math.min(pollMs * 2, MAX_POLL_MS);
    }
  }
}
