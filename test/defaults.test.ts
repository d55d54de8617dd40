/**
 * "Defaults that save, and loud where silent": the default router's default policy, shipped prices
 * kept under aliases, unknown options and aliases refused, the cost policy without prices.
 */
import { describe, expect, it } from 'vitest';

import { Registry } from '../src/routing/registry.js';
import { DEFAULT_ROUTER_TAU } from '../src/routing/router.js';
import { Router } from '../src/app/router.js';

describe('the embedded default router', () => {
  it('loaded with no options routes with the threshold policy at the measured τ', async () => {
    const router = await Router.load();
    try {
      expect(router.threshold).toEqual({ value: DEFAULT_ROUTER_TAU, strong: 'strong', weak: 'weak' });
      const d = router.routeSync('What is 2 + 2?');
      expect(d.policy).toBe('threshold');
      expect(d.model).toBe(d.winProbability! >= DEFAULT_ROUTER_TAU ? 'strong' : 'weak');
    } finally {
      router.dispose();
    }
  });

  it('an explicit policy or τ wins over the default', async () => {
    const best = await Router.load('default', { policy: 'best' });
    const tau = await Router.load('default', { threshold: { value: 0.9 } });
    try {
      expect(best.routeSync('hello').policy).toBe('best');
      expect(tau.threshold.value).toBe(0.9);
    } finally {
      best.dispose();
      tau.dispose();
    }
  });

  it('keeps its shipped prices under aliases until a registry replaces them', async () => {
    const aliased = await Router.load('default', { aliases: { strong: 'gpt-4o', weak: 'gpt-4o-mini' } });
    try {
      expect(aliased.registry!.get('gpt-4o')).toMatchObject({ inputCostPer1M: 10, outputCostPer1M: 30 });
      expect(aliased.registry!.get('gpt-4o-mini')).toMatchObject({ inputCostPer1M: 0.6, outputCostPer1M: 0.6 });
      const d = aliased.routeSync('Prove Fermat\'s little theorem.', { policy: 'cost', lambda: 10 });
      expect(d.expectedCost).not.toBeNull();
    } finally {
      aliased.dispose();
    }
    const registry = Registry.fromObject([{ id: 'gpt-4o', inputCostPer1M: 2.5, outputCostPer1M: 10 }, { id: 'gpt-4o-mini', inputCostPer1M: 0.15, outputCostPer1M: 0.6 }]);
    const replaced = await Router.load('default', { aliases: { strong: 'gpt-4o', weak: 'gpt-4o-mini' }, registry });
    try {
      expect(replaced.registry!.get('gpt-4o')!.inputCostPer1M).toBe(2.5);
    } finally {
      replaced.dispose();
    }
  });
});

describe('loud where silent', () => {
  it('an unknown Router.load option is an error with a suggestion', () => {
    expect(() => Router.loadSync('default', { polcy: 'cost' } as never)).toThrow(
      'unknown Router.load option "polcy" (did you mean "policy"?); known options: registry, aliases, policy, cost, threshold, subset, backend, threads, maxBatchSize, maxWaitMs',
    );
  });

  it('an alias to an id missing from the registry is an error', () => {
    const registry = Registry.fromObject([{ id: 'gpt-4o' }, { id: 'gpt-4o-mini' }]);
    expect(() => Router.loadSync('default', { registry, aliases: { strong: 'gpt-4o', weak: 'gpt4o-mini' } })).toThrow(
      'Expected an id listed in the registry <object> (gpt-4o, gpt-4o-mini) for options.aliases["weak"] but received string "gpt4o-mini"',
    );
  });

  it('the cost policy as the default with an unpriced eligible model is an error at load', () => {
    const registry = Registry.fromObject([{ id: 'strong', inputCostPer1M: 10, outputCostPer1M: 30 }, { id: 'weak' }]);
    expect(() => Router.loadSync('default', { registry, policy: 'cost' })).toThrow(
      'the cost policy needs a price for every model it may choose, and weak has none: set inputCostPer1M and outputCostPer1M in the registry (<object>), or disable it',
    );
  });

  it('the cost policy chosen per call with an unpriced model warns once per router', async () => {
    const registry = Registry.fromObject([{ id: 'strong', inputCostPer1M: 10, outputCostPer1M: 30 }, { id: 'weak' }]);
    const router = Router.loadSync('default', { registry, policy: 'best' });
    const warnings: Error[] = [];
    const onWarning = (w: Error) => {
      if ((w as { code?: string }).code === 'ROUTECORE_UNPRICED_MODEL') warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      router.routeSync('one', { policy: 'cost' });
      router.routeSync('two', { policy: 'cost' });
      await new Promise((r) => setImmediate(r));
      expect(warnings.map((w) => w.message)).toEqual([
        'routecore: the cost policy counts weak as free: it has no price in the registry or the training data. Set inputCostPer1M/outputCostPer1M (this warning is shown once per router).',
      ]);
    } finally {
      process.off('warning', onWarning);
      router.dispose();
    }
  });
});
