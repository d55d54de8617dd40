/**
 * What each entry point offers: `routecore` is the app API without research knobs; those live in
 * `routecore/research`, evaluation in `routecore/eval`.
 */
import { describe, expect, it } from 'vitest';

import * as app from '../src/index.js';
import * as evaluation from '../src/eval.js';
import * as research from '../src/research.js';

describe('entry points', () => {
  it('routecore: load, route, routeChat, execute, train, Registry, errors; no auto constants or caches', () => {
    expect(typeof app.Router.load).toBe('function');
    expect(typeof app.Router.prototype.routeChat).toBe('function');
    expect(typeof app.Router.prototype.route).toBe('function');
    expect(typeof app.Executor).toBe('function');
    expect(typeof app.train).toBe('function');
    expect(typeof app.Registry).toBe('function');
    expect(typeof app.RoutecoreError).toBe('function');
    expect(typeof app.majorityVote).toBe('function');
    for (const name of ['AUTO_MEMBERS', 'AUTO_MEMBER_SETS', 'AUTO_BETAS', 'AUTO_LAMBDAS', 'autoAlphas', 'loadTrainingData', 'parseDataSpec', 'trainPredictor', 'RouterCore', 'reliability', 'selectSubset', 'calibrateThreshold', 'strongWinProbability']) {
      expect(app, name).not.toHaveProperty(name);
    }
  });

  it('routecore/research and routecore/eval hold what left the app API', () => {
    expect(research.AUTO_MEMBER_SETS.length).toBeGreaterThan(0);
    expect(Object.keys(research.AUTO_MEMBERS)).toEqual(expect.arrayContaining(['lin']));
    for (const name of ['trainPredictor', 'autoAlphas', 'loadTrainingData', 'parseDataSpec', 'selectSubset', 'calibrateThreshold', 'strongWinProbability', 'ReferenceRouter', 'exportOnnx']) {
      expect(typeof (research as Record<string, unknown>)[name], name).toBe('function');
    }
    for (const name of ['evaluate', 'evaluateScores', 'crossValidate', 'renderMarkdown', 'renderSvg', 'reliability']) {
      expect(typeof (evaluation as Record<string, unknown>)[name], name).toBe('function');
    }
  });
});
