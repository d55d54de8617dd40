/**
 * The model names every face understands (routecore/openai, the gateway):
 * - `routecore`: routed with the router's default policy;
 * - `routecore:<policy>` and `routecore:<policy>:<knob>`: routed with that policy, the knob being
 *   `cost` λ (USD per query trade-off), `threshold` τ in [0,1], `subset` target joint success in [0,1]
 *   (`best` takes no knob);
 * - a registry id: that model first, the decision's other models as its fallbacks.
 * @module
 */
import { RoutecoreError, describe } from '../errors.js';
import { POLICIES, type PolicyName } from '../routing/policy.js';
import type { RouteOptions } from '../routing/router.js';
import type { Registry } from '../routing/registry.js';

/** What a model name asks for. */
export type ModelChoice = { kind: 'routed'; route: RouteOptions } | { kind: 'explicit'; model: string };

/** The routed model name. */
export const ROUTED_MODEL = 'routecore';

/**
 * Reads a request's `model`. Throws ERR_ROUTECORE_INVALID_ARGUMENT (message naming `field`) for a
 * malformed `routecore:` name, and ERR_ROUTECORE_UNKNOWN_MODEL for a name that is neither routed
 * nor in the registry (a gateway's 404).
 * @param name the `model` field; undefined means `routecore`
 */
export function parseModelName(name: unknown, registry: Registry | undefined, field = 'model'): ModelChoice {
  if (name === undefined || name === ROUTED_MODEL) return { kind: 'routed', route: {} };
  if (typeof name !== 'string' || name === '') {
    throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', `Expected "routecore", "routecore:<policy>[:<knob>]" or a registry id for ${field} but received ${describe(name)}`);
  }
  if (name.startsWith(`${ROUTED_MODEL}:`)) {
    const [, policy, knob, ...extra] = name.split(':');
    if (!POLICIES.includes(policy as PolicyName) || extra.length > 0) {
      throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', `${field} "${name}" is not "routecore:<policy>[:<knob>]" with policy one of ${POLICIES.join(', ')}`);
    }
    const route: RouteOptions = { policy: policy as PolicyName };
    if (knob !== undefined) {
      const v = Number(knob);
      if (knob === '' || !Number.isFinite(v)) throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', `${field} "${name}": the knob "${knob}" is not a number`);
      const unit = (lo: number, hi: number, what: string) => {
        if (!(v >= lo && v <= hi)) throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', `${field} "${name}": ${what} must be in [${lo}, ${hi}], got ${knob}`);
      };
      if (policy === 'cost') {
        unit(0, 1e9, 'the cost policy\'s lambda');
        route.lambda = v;
      } else if (policy === 'threshold') {
        unit(0, 1, 'the threshold');
        route.threshold = v;
      } else if (policy === 'subset') {
        unit(0, 1, 'the subset target');
        route.subset = { target: v };
      } else {
        throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', `${field} "${name}": the best policy takes no knob`);
      }
    }
    return { kind: 'routed', route };
  }
  if (registry?.has(name)) return { kind: 'explicit', model: name };
  throw new RoutecoreError(
    'ERR_ROUTECORE_UNKNOWN_MODEL',
    `${field} "${name}" is not routecore, routecore:<policy>[:<knob>] or a registry id${registry ? ` (${registry.ids().join(', ')})` : ''}`,
  );
}
