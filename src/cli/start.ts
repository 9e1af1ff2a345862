/**
 * `lazarus start` (what `npm start` runs): a whole local region on embedded defaults. Starts
 * kinesis-local, a private redis-server (unless `REDIS_URL` is set), the fleet simulator and the
 * three nodes; creates the stream; prints where everything listens; Ctrl-C stops it all.
 */
import { join } from 'node:path';
import { packageRoot } from '../common/package-root.js';
import { LocalStack } from '../sim/local-stack.js';
import { table } from './format.js';

const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

export async function startCommand(configDir: string, out: NodeJS.WritableStream): Promise<number> {
  out.write('starting a local region: kinesis-local, redis-server, the fleet simulator, three nodes...\n');
  const workDir = join(packageRoot(), '.lazarus', 'local');
  let stack: LocalStack;
  try {
    stack = await LocalStack.start({
      configDir,
      workDir,
      onLog: (node, line) => out.write(compact(node, line) + '\n'),
    });
  } catch (error) {
    out.write(`could not start the local region: ${(error as Error).message}\n`);
    return 1;
  }
  const rows = [
    ['kinesis-local', stack.kinesisEndpoint, `stream ${stack.region.stream}`],
    ['redis', stack.redisUrl, `keys ${stack.region.keyPrefix}*`],
    ['fleet simulator', stack.fleet.url, 'GET /v1/inventory, POST /v1/faults'],
    ['PagerDuty simulator', stack.pagerduty.url, "POST /sim/incidents (a sensor's page), GET /sim/incidents"],
    ...stack.region.nodes.map((n) => [
      `node ${n.id}`,
      `console ${stack.apiUrl(n.id)}/`,
      `grpc ${n.grpc} · ${n.zone}`,
    ]),
  ];
  out.write(
    `\n${table(rows, '  ')}\n\nconfiguration: ${stack.configDir}\nlogs: ${join(stack.workDir, 'logs')}\n`,
  );
  out.write(
    `submit an event: npx lazarus submit --config ${stack.configDir} --event FILE\n` +
      `  or: curl -H 'Authorization: Bearer ${stack.apiToken}' --data @FILE ${stack.apiUrl(stack.region.nodes[0]?.id ?? 'a')}/v1/events\n` +
      `(Ctrl-C stops everything)\n\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  out.write('\nstopping...\n');
  await stack.stop();
  out.write('stopped\n');
  return 0;
}

/** One log line of a node, shortened for the terminal. */
function compact(node: string, line: string): string {
  try {
    const entry = JSON.parse(line) as Record<string, unknown>;
    const time = new Date(Number(entry['time'])).toISOString().slice(11, 23);
    const level = LEVELS[Number(entry['level'])] ?? '?';
    const event = typeof entry['event'] === 'string' ? ` [${entry['event']}]` : '';
    return `${time} ${node} ${level.padEnd(5)}${event} ${typeof entry['msg'] === 'string' ? entry['msg'] : ''}`;
  } catch {
    return `${node} ${line}`;
  }
}
