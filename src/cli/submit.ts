/**
 * `lazarus submit --event FILE|- [--config DIR] [--raw]`: puts an event on the region's stream, as a
 * sensor would. The event is validated first (an invalid one is refused with the reasons) unless
 * `--raw`, which puts the bytes as they are (to test how the cluster handles a poison record).
 * The partition key is `service/host`, so that events about one host stay in order on one shard.
 * An event with `submitted_by` (the REST API's stamp) is refused: this is not the API.
 */
import { PutRecordCommand } from '@aws-sdk/client-kinesis';
import { loadConfig } from '../config/load.js';
import { readInput } from './input.js';
import { formatIssue } from '../config/source.js';
import { defaultCatalog } from '../controller/catalog.js';
import { parseEvent } from '../events/parse.js';
import { kinesisClient } from '../ingest/kinesis-client.js';

export async function submitCommand(
  dir: string,
  file: string,
  raw: boolean,
  out: NodeJS.WritableStream,
): Promise<number> {
  return submitEvent(dir, await readInput(file), { raw }, out);
}

/**
 * What `lazarus submit` does with an event's bytes, for every command that puts an event on the
 * stream itself (`lazarus nagios-notify --config DIR`): the region's configuration loaded, the
 * event validated (unless `raw`), put with the partition key `service/host`, and where it went
 * printed. Exit code 0 put, 2 refused; rejects when the stream cannot be written.
 */
export async function submitEvent(
  dir: string,
  bytes: Uint8Array,
  options: { readonly raw: boolean },
  out: NodeJS.WritableStream,
): Promise<number> {
  const { raw } = options;
  const loaded = await loadConfig(dir, defaultCatalog());
  if (!loaded.ok) {
    for (const issue of loaded.issues) out.write(formatIssue(issue) + '\n');
    return 2;
  }
  const { region } = loaded.config;
  const parsed = parseEvent(bytes, { maxBytes: region.events.maxBytes });
  if (!parsed.ok && !raw) {
    out.write(`refused (${parsed.rejection.code}): ${parsed.rejection.message}\n`);
    return 2;
  }
  // The stamp says the REST API took the event with a token; this puts it on the stream directly,
  // so the trail must say that instead (an event copied from a decision record carries one).
  if (parsed.ok && parsed.event.submitted_by !== undefined && !raw) {
    out.write(
      "refused: submitted_by is the REST API's stamp of who submitted an event through it; lazarus submit puts the event on the stream directly, without one: remove the field\n",
    );
    return 2;
  }
  const key = parsed.ok
    ? `${parsed.event.service}/${parsed.event.host ?? parsed.event.resource ?? ''}`
    : 'raw';
  const kinesis = kinesisClient({
    region: region.kinesis.region,
    ...(region.kinesis.endpoint === undefined ? {} : { endpoint: region.kinesis.endpoint }),
  });
  try {
    const put = await kinesis.send(
      new PutRecordCommand({ StreamName: region.kinesis.stream, PartitionKey: key, Data: bytes }),
    );
    out.write(
      `${parsed.ok ? parsed.event.id : '(raw record)'} → ${region.kinesis.stream} shard ${put.ShardId ?? '?'} sequence ${put.SequenceNumber ?? '?'}\n`,
    );
    return 0;
  } finally {
    kinesis.destroy();
  }
}
