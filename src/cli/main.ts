#!/usr/bin/env node
/** The `lazarus` command. */
import { parseArgs } from 'node:util';
import { configDir } from '../common/package-root.js';
import { matchCommand } from './match.js';
import { nodeCommand } from './node.js';
import { runWorkflowCommand } from './run-workflow.js';
import { startCommand } from './start.js';
import { submitCommand } from './submit.js';
import { validateCommand } from './validate.js';

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

--config defaults to $LAZARUS_CONFIG, else the shipped deploy/local.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  let positionals: string[] = [];
  let values: {
    config?: string | undefined;
    event?: string | undefined;
    json?: boolean | undefined;
    node?: string | undefined;
    raw?: boolean | undefined;
    'dry-run'?: boolean | undefined;
  };
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
      },
      strict: true,
      allowPositionals: true,
    }));
  } catch (error) {
    process.stderr.write(`lazarus ${command}: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const dir = configDir(values.config);
  switch (command) {
    case 'validate':
      return validateCommand(dir, process.stdout);
    case 'match':
      if (values.event === undefined) {
        process.stderr.write(`lazarus match: --event FILE is required (- reads standard input)\n`);
        return 2;
      }
      return matchCommand(dir, values.event, values.json === true, process.stdout);
    case 'node':
      if (values.node === undefined) {
        process.stderr.write(`lazarus node: --node ID is required\n`);
        return 2;
      }
      return nodeCommand(dir, values.node);
    case 'start':
      return startCommand(dir, process.stdout);
    case 'run-workflow':
      if (positionals[0] === undefined || values.event === undefined) {
        process.stderr.write(`lazarus run-workflow: NAME and --event FILE are required\n`);
        return 2;
      }
      return runWorkflowCommand(
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
      return submitCommand(dir, values.event, values.raw === true, process.stdout);
    default:
      process.stderr.write(`lazarus: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
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
