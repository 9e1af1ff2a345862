#!/usr/bin/env node
/** The `lazarus` command. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { configDir, packageRoot } from '../common/package-root.js';
import type { ApiTarget, EventsCommandOptions } from './events.js';

// Each command's module is imported when it runs: `lazarus events` need not load the AWS SDK,
// gRPC and the whole controller that `lazarus node` does (a second of start-up on a small machine).

/** The filters of `lazarus events`, passed to `GET /v1/events` under the same names. */
const FILTERS = ['service', 'host', 'status', 'reason', 'since', 'until', 'limit', 'cursor'] as const;

interface Values {
  config?: string;
  env?: boolean;
  out?: string;
  days?: string;
  newCa?: boolean;
  caDir?: string;
  event?: string;
  json?: boolean;
  node?: string;
  raw?: boolean;
  dryRun?: boolean;
  api?: string;
  token?: string;
  ca?: string;
  service?: string;
  host?: string;
  status?: string;
  reason?: string;
  since?: string;
  until?: string;
  timeout?: string;
  limit?: string;
  cursor?: string;
}

/** The options of `lazarus nagios-notify` (`--api` and `--macro` repeat). */
interface NagiosValues {
  config?: string;
  macro?: string[];
  service?: string;
  environment?: string;
  incidentKey?: string | false;
  api?: string[];
  tokenEnv?: string;
  ca?: string;
  dryRun?: boolean;
}

/** A repeated option's values, in order. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** What a command printed as its usage error: exit 2, as before the CLI was on commander. */
function usage(command: string, message: string): number {
  process.stderr.write(`lazarus ${command}: ${message}\n`);
  return 2;
}

/**
 * The commands on commander: `--help` on each (exit 0), `--version`, "did you mean" for a mistyped
 * command or option, and every usage error exit 2. An option another command takes is refused, not
 * ignored: `match --service x` would otherwise look like a filter that worked.
 */
function program(run: (work: () => Promise<number>) => void): Command {
  const root = new Command('lazarus')
    .description('a quorum-based remediation controller: validate, run and question a region')
    .version(packageVersion(), '--version', 'print the version and exit')
    .usage('<command> [options]')
    .addHelpText('after', `\n${HELP_AFTER}`)
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`lazarus: ${text.replace(/^error: /, '')}`) });
  const config = (c: Command): Command =>
    c.option(
      '--config <dir>',
      'the configuration directory (default: $LAZARUS_CONFIG, else the shipped deploy/local)',
    );
  const apiOptions = (c: Command): Command =>
    c
      .option('--api <url>', "a node's REST API (default: the configuration's nodes, in turn)")
      .option('--token <token>', "the API token (default: the variable region.yaml's api.token_env names)")
      .option(
        '--ca <file>',
        "the CA certificates (PEM) an https node's certificate must chain to, and only those (default: $LAZARUS_API_CA, else Node's own list)",
      )
      .option('--json', 'print JSON');
  const sub = (name: string, description: string): Command =>
    config(root.command(name).description(description).exitOverride().allowExcessArguments(false));

  sub('validate', 'check the configuration; print every problem; exit 1 on any')
    .option('--env', 'also check that every environment variable it names for a secret is set')
    .action((v: Values) =>
      run(async () =>
        (await import('./validate.js')).validateCommand(configDir(v.config), process.stdout, {
          checkEnv: v.env === true,
        }),
      ),
    );
  sub(
    'match',
    'which rule applies to an event, with its compiled parameters, or why none does; exit 0 matched, 1 none, 2 invalid event or configuration',
  )
    .option('--event <file>', 'the event (a file, or - for standard input)')
    .option('--json', 'print JSON')
    .action((v: Values) =>
      run(async () =>
        v.event === undefined
          ? usage('match', '--event FILE is required (- reads standard input)')
          : (await import('./match.js')).matchCommand(
              configDir(v.config),
              v.event,
              v.json === true,
              process.stdout,
            ),
      ),
    );
  sub(
    'certs',
    "write the region's peer CA (kept if there is one) and a certificate and key for each node of region.yaml",
  )
    .option('--out <dir>', 'where to write them (default: certs/ in the configuration directory)')
    .option('--ca-dir <dir>', 'where the CA and its key are kept, off the nodes (default: --out)')
    .option('--node <id...>', "only these nodes' certificates (each node should get only its own key)")
    .option('--days <n>', 'how long the node certificates are valid', '825')
    .option(
      '--new-ca',
      'make a new CA even if the directory has one (every node then needs its new certificate)',
    )
    .action((v: Values) =>
      run(async () =>
        (await import('./certs.js')).certsCommand(
          configDir(v.config),
          {
            ...(v.out === undefined ? {} : { out: v.out }),
            ...(v.caDir === undefined ? {} : { caDir: v.caDir }),
            // `--node` repeats here (ids), unlike `lazarus node --node ID`.
            ...(v.node === undefined ? {} : { nodes: ([] as string[]).concat(v.node as string | string[]) }),
            days: Number(v.days),
            newCa: v.newCa === true,
          },
          process.stdout,
        ),
      ),
    );
  sub('node', 'run one controller node (until SIGTERM)')
    .option('--node <id>', "the node's id in region.yaml (default: $LAZARUS_NODE)")
    .action((v: Values) =>
      run(async () => {
        const node = v.node ?? process.env['LAZARUS_NODE'];
        return node === undefined || node === ''
          ? usage('node', '--node ID is required (or $LAZARUS_NODE)')
          : (await import('./node.js')).nodeCommand(configDir(v.config), node);
      }),
    );
  sub(
    'health',
    "a node's grpc.health.v1 status on its peer port, asked as a peer (mutual TLS with the node's own certificate); exit 0 SERVING, 1 NOT_SERVING or no answer, 2 usage or configuration error",
  )
    .option('--node <id>', "the node's id in region.yaml (default: $LAZARUS_NODE)")
    .option('--service <name>', "the health service name: '' for the server (default: the peer service)")
    .option('--timeout <duration>', 'how long to wait for the answer', '2s')
    .action((v: Values) =>
      run(async () =>
        (await import('./health.js')).healthCommand(
          configDir(v.config),
          {
            ...(v.node === undefined ? {} : { node: v.node }),
            ...(v.service === undefined ? {} : { service: v.service }),
            ...(v.timeout === undefined ? {} : { timeout: v.timeout }),
          },
          process.env,
          process.stdout,
        ),
      ),
    );
  sub(
    'start',
    'run a whole local region (kinesis-local, redis-server, the fleet simulator, three nodes) until Ctrl-C',
  ).action((v: Values) =>
    run(async () => (await import('./start.js')).startCommand(configDir(v.config), process.stdout)),
  );
  sub('submit', "put an event on the region's stream")
    .option('--event <file>', 'the event (a file, or - for standard input)')
    .option('--raw', 'put the bytes unvalidated')
    .action((v: Values) =>
      run(async () =>
        v.event === undefined
          ? usage('submit', '--event FILE is required (- reads standard input)')
          : (await import('./submit.js')).submitCommand(
              configDir(v.config),
              v.event,
              v.raw === true,
              process.stdout,
            ),
      ),
    );
  sub('run-workflow', 'run one workflow by hand for an event')
    .argument('[name]', 'the workflow')
    .option('--event <file>', 'the event (a file, or - for standard input)')
    .option('--dry-run', 'print the resolved plan and call nothing')
    .action((name: string | undefined, v: Values) =>
      run(async () =>
        name === undefined || v.event === undefined
          ? usage('run-workflow', 'NAME and --event FILE are required')
          : (await import('./run-workflow.js')).runWorkflowCommand(
              configDir(v.config),
              name,
              v.event,
              v.dryRun === true,
              process.stdout,
            ),
      ),
    );
  sub(
    'nagios-notify',
    "a Nagios notification command: the host's or service's macros (arguments, or Nagios' NAGIOS_* environment macros) as an event, through a node's REST API or onto the stream; exit 0 sent (or a notification that is not sent), 1 not delivered, 2 a macro missing or wrong, or refused",
  )
    .argument(
      '[object]',
      'host (in host_notification_commands) or service (in service_notification_commands)',
    )
    .option(
      '--macro <name=value>',
      'a macro as Nagios expands it in the command definition (HOSTSTATE=$HOSTSTATE$); repeat; wins over the NAGIOS_* variables',
      collect,
    )
    .option('--service <name>', "the Lazarus service (default: the host's custom variable _LAZARUS_SERVICE)")
    .option(
      '--environment <env>',
      "the event's environment (default: the host's custom variable _LAZARUS_ENVIRONMENT, else prod)",
    )
    .option(
      '--incident-key <key>',
      "the page's incident key (default: the one PagerDuty's Nagios integration gives it, event_source=host;host_name=HOST)",
    )
    .option('--no-incident-key', 'no incident key: no page is acknowledged or escalated')
    .option(
      '--api <url>',
      "a node's REST API; repeat to try others while one does not answer (default: onto the stream of --config)",
      collect,
    )
    .option('--token-env <name>', 'the variable that holds the API token (default: LAZARUS_API_TOKEN)')
    .option(
      '--ca <file>',
      "the CA certificates (PEM) an https node's certificate must chain to (default: $LAZARUS_API_CA, else Node's own list)",
    )
    .option('--dry-run', 'print the event and send nothing')
    .action((object: string | undefined, v: NagiosValues) =>
      run(async () =>
        (await import('./nagios-notify.js')).nagiosNotifyCommand(
          {
            object,
            macros: v.macro ?? [],
            api: v.api ?? [],
            dryRun: v.dryRun === true,
            ...(v.service === undefined ? {} : { service: v.service }),
            ...(v.environment === undefined ? {} : { environment: v.environment }),
            ...(v.incidentKey === undefined ? {} : { incidentKey: v.incidentKey }),
            ...(v.tokenEnv === undefined ? {} : { tokenEnv: v.tokenEnv }),
            ...(v.ca === undefined ? {} : { ca: v.ca }),
            ...(v.config === undefined ? {} : { config: v.config }),
          },
          process.env,
          process.stdout,
          process.stderr,
        ),
      ),
    );
  const events = apiOptions(
    sub(
      'events',
      "the audit trail's events, newest first, from a node's REST API; exit 0 listed, 2 filter refused or no node answered",
    ),
  )
    .option('--service <s>', 'only this service')
    .option('--host <h>', 'only this host')
    .option('--status <status>', 'act | escalate | duplicate | rejected')
    .option('--reason <r>', 'an escalation reason, or a rejection code')
    .option('--since <t>', 'an RFC 3339 time, epoch ms, or a duration back from now (15m)')
    .option('--until <t>', 'as --since')
    .option('--limit <n>', 'events per page, 1 to 500 (default 50)')
    .option('--cursor <c>', 'the next page, as the previous one printed it')
    .allowExcessArguments(true);
  events.action((v: Values) =>
    run(async () => {
      if (events.args.length > 0)
        return usage('events', `takes no arguments, only options (got "${events.args[0]}")`);
      const options: { -readonly [K in keyof EventsCommandOptions]: EventsCommandOptions[K] } = {
        ...target(v),
      };
      for (const name of FILTERS) {
        const value = v[name];
        if (value !== undefined) options[name] = value;
      }
      return (await import('./events.js')).eventsCommand(
        configDir(v.config),
        options,
        process.stdout,
        process.stderr,
      );
    }),
  );
  apiOptions(
    sub(
      'event',
      "one event's trace: decision, gates, votes with every check, workflow run and steps, timeline; exit 0 shown, 1 no such event, 2 refused or no node answered",
    ),
  )
    .argument('[id]', 'the event id')
    .action((id: string | undefined, v: Values) =>
      run(async () =>
        id === undefined || id === ''
          ? usage('event', 'one event ID is required')
          : (await import('./events.js')).eventCommand(
              configDir(v.config),
              id,
              target(v),
              process.stdout,
              process.stderr,
            ),
      ),
    );
  return root;
}

const HELP_AFTER = `--config defaults to $LAZARUS_CONFIG, else the shipped deploy/local.
--api defaults to the configuration's nodes, asked in turn until one answers (over https when
region.yaml has api.tls); --token to the variable that region.yaml's api.token_env names
($LAZARUS_API_TOKEN by default); --ca to $LAZARUS_API_CA.
Run "lazarus <command> --help" for a command's options.`;

/** The package's version, from its package.json. */
function packageVersion(): string {
  const text = readFileSync(join(packageRoot(), 'package.json'), 'utf8');
  return (JSON.parse(text) as { version?: string }).version ?? '0.0.0';
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0) {
    process.stdout.write(program(() => undefined).helpInformation());
    return 2;
  }
  let work: (() => Promise<number>) | undefined;
  const root = program((w) => {
    work = w;
  });
  try {
    await root.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end with exit code 0; every usage error with 2, as before.
      return error.exitCode === 0 ? 0 : 2;
    }
    throw error;
  }
  if (work === undefined) return 2;
  return work();
}

/** `--api`, `--token`, `--ca` and `--json`, as the event commands take them. */
function target(values: Values): ApiTarget {
  return {
    ...(values.api === undefined ? {} : { api: values.api }),
    ...(values.token === undefined ? {} : { token: values.token }),
    ...(values.ca === undefined ? {} : { ca: values.ca }),
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
