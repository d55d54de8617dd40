/**
 * The eval plot's layout (issue 22, point 9): model labels that do not overlap, the router's `best`
 * point drawn on top (a ring) when it sits on a single model's dot, and the reliability caption
 * inside the picture.
 */
import { describe, expect, it } from 'vitest';

import type { EvalReport } from '../src/evaluation/eval.js';
import { renderSvg } from '../src/evaluation/plot.js';

/** A report with crowded single models (close costs and qualities) and `best` on the top model. */
function crowded(): EvalReport {
  const singles: Record<string, { quality: number; cost1k: number }> = {
    'openai/gpt-4-1106-preview': { quality: 0.88, cost1k: 5 },
    'mixtral-8x7b-chat': { quality: 0.75, cost1k: 0.22 },
    'gpt-3.5-turbo-1106': { quality: 0.745, cost1k: 0.3 },
    'claude-instant-v1': { quality: 0.7, cost1k: 0.35 },
    'llama-2-70b-chat': { quality: 0.63, cost1k: 0.36 },
    'code-llama-instruct-34b-chat': { quality: 0.62, cost1k: 0.32 },
    'mistral-7b-chat': { quality: 0.6, cost1k: 0.09 },
  };
  const models = Object.keys(singles);
  return {
    rows: 100,
    models,
    singles,
    oracle: { quality: 0.97, cost1k: 0.3 },
    random: { cheap: 'mistral-7b-chat', expensive: 'openai/gpt-4-1106-preview', points: [{ quality: 0.7, cost1k: 1 }] },
    zeroRouter: { hull: [{ quality: 0.6, cost1k: 0.09 }, { quality: 0.88, cost1k: 5 }] },
    router: { best: { quality: 0.88, cost1k: 5 }, sweep: [{ param: 'lambda', knob: 1, policy: 'cost', quality: 0.8, cost1k: 1 }, { param: 'lambda', knob: 0, policy: 'cost', quality: 0.88, cost1k: 5 }] },
    aiq: { router: 0.8, zeroRouter: 0.79 },
    apgr: null,
    cpt50: null,
    calibration: { ece: 0.03, bins: [{ lo: 0, hi: 0.1, predicted: 0.05, observed: 0.1, count: 3 }] },
    warnings: [],
  } as unknown as EvalReport;
}

/** Text elements with their estimated boxes (the plot's own estimate: 5.6 px per character at 10 px). */
function labels(svg: string) {
  const out: { text: string; x0: number; x1: number; y0: number; y1: number }[] = [];
  for (const m of svg.matchAll(/<text x="([\d.]+)" y="([\d.]+)" font-size="10"( text-anchor="end")?>([^<]*)<\/text>/g)) {
    const x = Number(m[1]), y = Number(m[2]), w = m[4]!.length * 5.6;
    out.push({ text: m[4]!, x0: m[3] ? x - w : x, x1: m[3] ? x : x + w, y0: y - 9, y1: y + 2 });
  }
  return out;
}

describe('eval plot layout', () => {
  it('labels of crowded models do not overlap', () => {
    const svg = renderSvg(crowded());
    const ls = labels(svg).filter((l) => Object.keys(crowded().singles).some((id) => id.endsWith(l.text)));
    expect(ls.map((l) => l.text).sort()).toEqual(['claude-instant-v1', 'code-llama-instruct-34b-chat', 'gpt-3.5-turbo-1106', 'gpt-4-1106-preview', 'llama-2-70b-chat', 'mistral-7b-chat', 'mixtral-8x7b-chat']);
    for (let i = 0; i < ls.length; i++) {
      for (let j = i + 1; j < ls.length; j++) {
        const a = ls[i]!, b = ls[j]!;
        const overlap = a.x0 < b.x1 && a.x1 > b.x0 && a.y0 < b.y1 && a.y1 > b.y0;
        expect(overlap, `${a.text} overlaps ${b.text}`).toBe(false);
      }
    }
  });

  it('draws the router\'s best point after the single models, as a ring', () => {
    const svg = renderSvg(crowded());
    const ring = svg.indexOf('<title>router best');
    const lastSingle = svg.lastIndexOf('<title>mistral-7b-chat');
    expect(ring).toBeGreaterThan(lastSingle);
    expect(svg).toMatch(/<circle cx="[\d.]+" cy="[\d.]+" r="7" fill="none" stroke="#1f6fd1" stroke-width="2.5"><title>router best/);
  });

  it('keeps the reliability caption inside the picture', () => {
    const svg = renderSvg(crowded());
    const width = Number(/<svg [^>]*width="(\d+)"/.exec(svg)![1]);
    const caption = labels(svg).filter((l) => /dot area|diagonal/.test(l.text));
    expect(caption).toHaveLength(2);
    for (const c of caption) expect(c.x1, c.text).toBeLessThan(width);
  });
});
