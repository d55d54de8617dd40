/**
 * A small soak (2,000 requests with random upstream faults, bad requests and clients hanging up
 * mid-stream): every request is answered or refused with an OpenAI-shaped error, and the outcome log
 * holds exactly one row per request. The 100,000-request run is `node dist/bench/soak.js`.
 */
import { describe, expect, it } from 'vitest';

import { runSoak } from '../bench/soak.js';

describe('gateway soak', () => {
  it('answers or clearly refuses every one of 2,000 requests under random faults, one log row each', async () => {
    const r = await runSoak({ requests: 2000, concurrency: 16, seed: 7 });
    expect(r.unexpectedExamples).toEqual([]);
    expect(r.unexpected).toBe(0);
    expect(r.logRows).toBe(2000);
    // The mix really exercised the faults: answers, fallbacks' failures and client errors all occurred.
    expect(r.outcomes['200 json']).toBeGreaterThan(0);
    expect(r.outcomes['200 stream']).toBeGreaterThan(0);
    expect(r.outcomes['400 invalid_json']).toBeGreaterThan(0);
    expect(r.outcomes['404 model_not_found']).toBeGreaterThan(0);
    expect(Object.values(r.faults).reduce((a, b) => a + b, 0)).toBeGreaterThan(300);
  }, 300_000);
});
