/** Error codes of the sensor adapters (one registry; see common/errors.ts). */
import { errorRegistry } from '../common/errors.js';

export const SENSOR_ERRORS = errorRegistry('sensors', {
  /**
   * A sensor's alert or event could not be mapped to an event (no service, no host, an instance
   * the inventory does not know): recorded as a rejected record with the reason; nothing is done.
   */
  UNMAPPED: {
    code: 'LZ_ERR_SENSOR_UNMAPPED',
    message:
      "a sensor's alert could not be mapped to an event (the reason says what is missing); it is recorded as rejected",
    retryable: false,
    http: 422,
    grpc: 'INVALID_ARGUMENT',
  },
});

export const SensorErrorCodes = SENSOR_ERRORS.codes;
