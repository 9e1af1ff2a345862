#!/usr/bin/env node
/** The `lazarus` command. */
import { parseArgs } from 'node:util';
import { configDir } from './paths.js';
import { matchCommand } from './match.js';
import { validateCommand } from './validate.js';

const USAGE = `usage: lazarus <command> [options]

commands:
  validate [--config DIR]                 check the configuration; print every problem; exit 1 on any
  match --event FILE [--config DIR] [--json]
                                          which rule applies to an event (FILE or - for stdin), with its
                                          compiled parameters, or why none does; exit 0 matched, 1 none,
                                          2 invalid event or configuration

--config defaults to $LAZARUS_CONFIG, else the shipped deploy/local.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  let values: { config?: string | undefined; event?: string | undefined; json?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: rest,
      options: { config: { type: 'string' }, event: { type: 'string' }, json: { type: 'boolean' } },
      strict: true,
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
