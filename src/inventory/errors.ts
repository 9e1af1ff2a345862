/** Error codes of the inventory (one registry; see common/errors.ts). */
import { errorRegistry } from '../common/errors.js';

export const INVENTORY_ERRORS = errorRegistry('inventory', {
  /** The inventory could not be read (file missing, endpoint down, bad answer). */
  UNAVAILABLE: {
    code: 'LZ_ERR_INVENTORY_UNAVAILABLE',
    message: 'the inventory could not be read; checks that need it fail',
    retryable: true,
    http: 503,
    grpc: 'UNAVAILABLE',
  },
});

export const InventoryErrorCodes = INVENTORY_ERRORS.codes;
