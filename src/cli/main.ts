#!/usr/bin/env node
/** The `lazarus` command. */
import { parseArgs } from 'node:util';
import { configDir } from '../common/package-root.js';
import type { ApiTarget, EventsCommandOptions } from './events.js';

// Each command's module is imported when it runs: `lazarus events` need not load the AWS SDK,
// gRPC and the whole controller that `lazarus node` does (a second of start-up on a small machine).

const USAGE = `usage: lazarus <command> [options]

commands:
  validate [--config DIR]                 check the configuration; print every problem; exit 1 on any
  match --event FILE [--config DIR] [--json]
                                          which rule applies to an event (FILE or - for stdin), with its
                                          compiled parameters, or why none does; exit 0 matched, 1 none,
                                          2 invalid event or configuration
  node --node ID [--config DIR]           run one controller node (until SIGTERM)
  start [--config DIR]                    run a whole local region (kinesis-local, redis-server, the
                                          fleet simulator, three nodes) until Ctrl-C
  submit --event FILE [--config DIR] [--raw]
                                          put an event (FILE or -) on the region's stream; --raw puts
                                          the bytes unvalidated
  run-workflow NAME --event FILE [--config DIR] [--dry-run]
                                          run one workflow by hand for an event; --dry-run prints the
                                          resolved plan and calls nothing
  events [--service S] [--host H] [--status STATUS] [--reason R] [--since T] [--until T]
         [--limit N] [--cursor C] [--api URL] [--token T] [--json] [--config DIR]
                                          the audit trail's events, newest first, from a node's REST
                                          API; STATUS act|escalate|duplicate|rejected; T an RFC 3339
                                          time, epoch ms, or a duration back from now (15m); exit 0
                                          listed, 2 filter refused or no node answered
  event ID [--api URL] [--token T] [--json] [--config DIR]
                                          one event's trace: decision, gates, votes with every check,
                                          workflow run and steps, timeline; exit 0 shown, 1 no such
                                          event, 2 refused or no node answered

--config defaults to $LAZARUS_CONFIG, else the shipped deploy/local.
--api defaults to the configuration's nodes, asked in turn until one answers; --token to the
variable that region.yaml's api.token_env names ($LAZARUS_API_TOKEN by default).
`;

/** The filters of `lazarus events`, passed to `GET /v1/events` under the same names. */
const FILTERS = ['service', 'host', 'status', 'reason', 'since', 'until', 'limit', 'cursor'] as const;

type OptionName =
  'config' | 'event' | 'json' | 'node' | 'raw' | 'dry-run' | 'api' | 'token' | (typeof FILTERS)[number];

/**
 * The options each command takes. Any other is refused, not ignored: `match --service x` would
 * otherwise look like a filter that worked.
 */
const COMMAND_OPTIONS: Readonly<Record<string, readonly OptionName[]>> = {
  validate: ['config'],
  match: ['config', 'event', 'json'],
  node: ['config', 'node'],
  start: ['config'],
  submit: ['config', 'event', 'raw'],
  'run-workflow': ['config', 'event', 'dry-run'],
  events: ['config', 'api', 'token', 'json', ...FILTERS],
  event: ['config', 'api', 'token', 'json'],
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  const allowed = COMMAND_OPTIONS[command];
  if (allowed === undefined) {
    process.stderr.write(`lazarus: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  let positionals: string[] = [];
  let values: Partial<Record<Exclude<OptionName, 'json' | 'raw' | 'dry-run'>, string>> &
    Partial<Record<'json' | 'raw' | 'dry-run', boolean>>;
  try {
    ({ values, positionals } = parseArgs({
      args: rest,
      options: {
        config: { type: 'string' },
        event: { type: 'string' },
        json: { type: 'boolean' },
        node: { type: 'string' },
        raw: { type: 'boolean' },
        'dry-run': { type: 'boolean' },
        api: { type: 'string' },
        token: { type: 'string' },
        ...Object.fromEntries(FILTERS.map((name) => [name, { type: 'string' as const }])),
      },
      strict: true,
      allowPositionals: true,
    }));
  } catch (error) {
    process.stderr.write(`lazarus ${command}: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const misplaced = Object.keys(values).filter((name) => !allowed.includes(name as OptionName));
  if (misplaced.length > 0) {
    const names = misplaced.map((name) => `--${name}`).join(', ');
    const verb = misplaced.length === 1 ? 'is not an option' : 'are not options';
    process.stderr.write(`lazarus ${command}: ${names} ${verb} of ${command}\n\n${USAGE}`);
    return 2;
  }
  const dir = configDir(values.config);
  switch (command) {
    case 'validate':
      return (await import('./validate.js')).validateCommand(dir, process.stdout);
    case 'match':
      if (values.event === undefined) {
        process.stderr.write(`lazarus match: --event FILE is required (- reads standard input)\n`);
        return 2;
      }
      return (await import('./match.js')).matchCommand(
        dir,
        values.event,
        values.json === true,
        process.stdout,
      );
    case 'node':
      if (values.node === undefined) {
        process.stderr.write(`lazarus node: --node ID is required\n`);
        return 2;
      }
      return (await import('./node.js')).nodeCommand(dir, values.node);
    case 'start':
      return (await import('./start.js')).startCommand(dir, process.stdout);
    case 'run-workflow':
      if (positionals[0] === undefined || values.event === undefined) {
        process.stderr.write(`lazarus run-workflow: NAME and --event FILE are required\n`);
        return 2;
      }
      return (await import('./run-workflow.js')).runWorkflowCommand(
        dir,
        positionals[0],
        values.event,
        values['dry-run'] === true,
        process.stdout,
      );
    case 'submit':
      if (values.event === undefined) {
        process.stderr.write(`lazarus submit: --event FILE is required (- reads standard input)\n`);
        return 2;
      }
      return (await import('./submit.js')).submitCommand(
        dir,
        values.event,
        values.raw === true,
        process.stdout,
      );
    case 'events': {
      if (positionals.length > 0) {
        process.stderr.write(`lazarus events: takes no arguments, only options (got "${positionals[0]}")\n`);
        return 2;
      }
      const options: { -readonly [K in keyof EventsCommandOptions]: EventsCommandOptions[K] } = {
        ...target(values),
      };
      for (const name of FILTERS) {
        const value = values[name];
        if (value !== undefined) options[name] = value;
      }
      return (await import('./events.js')).eventsCommand(dir, options, process.stdout, process.stderr);
    }
    case 'event':
      if (positionals.length !== 1 || positionals[0] === '') {
        process.stderr.write(`lazarus event: one event ID is required\n`);
        return 2;
      }
      return (await import('./events.js')).eventCommand(
        dir,
        positionals[0] ?? '',
        target(values),
        process.stdout,
        process.stderr,
      );
    default:
      process.stderr.write(`lazarus: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

/** `--api`, `--token` and `--json`, as the event commands take them. */
function target(values: { api?: string; token?: string; json?: boolean }): ApiTarget {
  return {
    ...(values.api === undefined ? {} : { api: values.api }),
    ...(values.token === undefined ? {} : { token: values.token }),
    ...(values.json === undefined ? {} : { json: values.json }),
  };
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `lazarus: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 2;
  },
);
