/**
 * The inventory document, the same from a YAML file or an HTTP endpoint:
 * `{ services: { <name>: { hosts: [ { id, zone, state?, health_url, instance_id? } ] } } }`.
 */
import { Ajv } from 'ajv';
import { LzError } from '../common/errors.js';
import type { HostState, InventoryHost } from './types.js';
import { InventoryErrorCodes } from './errors.js';

export { InventoryErrorCodes };

const SCHEMA = {
  type: 'object',
  required: ['services'],
  properties: {
    services: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        required: ['hosts'],
        properties: {
          hosts: {
            type: 'array',
            items: {
              type: 'object',
              required: ['id', 'zone', 'health_url'],
              properties: {
                id: { type: 'string', minLength: 1 },
                zone: { type: 'string' },
                state: { type: 'string', enum: ['active', 'out_of_lb', 'forensics', 'booting'] },
                health_url: { type: 'string', pattern: '^https?://' },
                instance_id: { type: 'string', pattern: '^i-[0-9a-f]{8,17}$' },
              },
            },
          },
        },
      },
    },
  },
} as const;

const validate = new Ajv({ allErrors: true }).compile<RawDocument>(SCHEMA);

interface RawDocument {
  services: Record<
    string,
    { hosts: { id: string; zone: string; state?: HostState; health_url: string; instance_id?: string }[] }
  >;
}

/** Validates an inventory document; throws `LZ_ERR_INVENTORY_UNAVAILABLE` naming what is wrong. */
export function parseInventory(value: unknown, from: string): Map<string, InventoryHost[]> {
  if (!validate(value)) {
    const first = validate.errors?.[0];
    throw new LzError(
      InventoryErrorCodes.UNAVAILABLE,
      `inventory from ${from} is malformed: ${first?.instancePath ?? ''} ${first?.message ?? ''}`,
      {
        retryable: true,
      },
    );
  }
  const out = new Map<string, InventoryHost[]>();
  for (const [service, { hosts }] of Object.entries(value.services)) {
    out.set(
      service,
      hosts.map((h) => ({
        id: h.id,
        service,
        zone: h.zone,
        state: h.state ?? 'active',
        healthUrl: h.health_url,
        ...(h.instance_id === undefined ? {} : { instanceId: h.instance_id }),
      })),
    );
  }
  return out;
}
