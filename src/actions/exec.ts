import type { ActionDefinition } from './definition.js';

/** Runs a script from the allow-listed directory, arguments as an argv array, never through a shell. */
export const exec: ActionDefinition = {
  name: 'exec',
  description: 'Run an allow-listed script with an argv array (no shell); output captured and size-capped.',
  inputs: {
    type: 'object',
    required: ['script'],
    additionalProperties: false,
    properties: {
      script: { type: 'string' },
      args: { type: 'array', items: { type: 'string' } },
      timeout: { type: 'string' },
      max_output_bytes: { type: 'integer', minimum: 0 },
    },
  },
  outputs: {
    type: 'object',
    properties: {
      exit_code: { type: 'integer' },
      stdout: { type: 'string' },
      stderr: { type: 'string' },
      truncated: { type: 'boolean' },
    },
  },
};
