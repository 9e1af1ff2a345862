/** The catalog the configuration is checked against: the registered checks and actions. */
import { ACTIONS } from '../actions/registry.js';
import { CHECKS } from '../checks/registry.js';
import type { Catalog } from '../config/catalog.js';

export function defaultCatalog(): Catalog {
  return { checks: CHECKS, actions: ACTIONS };
}
