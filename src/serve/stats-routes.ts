/**
 * `GET /v1/stats` (live traffic and judged quality as JSON, docs/LEARNING.md) and `GET /dashboard`
 * (one static page, `dashboard/index.html` of the package, drawing `/v1/stats` with uPlot; no build
 * step). `/v1/stats` needs a client key like every `/v1/` route; the page itself holds no data and
 * asks for the key when the gateway has keys.
 * @module
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';

import { packageRoot } from '../addon/native.js';
import type { LearningService } from '../learning/service.js';

/** Files the dashboard loads, read once on first request (they ship with the package and do not change). */
function assets(): Record<string, { type: string; body: Buffer }> {
  const require = createRequire(import.meta.url);
  const uplotJs = require.resolve('uplot/dist/uPlot.iife.min.js');
  const uplotCss = require.resolve('uplot/dist/uPlot.min.css');
  return {
    '/dashboard': { type: 'text/html; charset=utf-8', body: readFileSync(join(packageRoot(), 'dashboard', 'index.html')) },
    '/dashboard/uplot.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(uplotJs) },
    '/dashboard/uplot.css': { type: 'text/css; charset=utf-8', body: readFileSync(uplotCss) },
  };
}

/** Registers the two routes on the gateway's app. */
export function registerStatsRoutes(app: FastifyInstance, learning: LearningService): void {
  let files: ReturnType<typeof assets> | undefined;
  app.get('/v1/stats', async () => learning.stats());
  for (const path of ['/dashboard', '/dashboard/uplot.js', '/dashboard/uplot.css']) {
    app.get(path, async (_request, reply) => {
      files ??= assets();
      const f = files[path]!;
      reply.header('content-type', f.type);
      reply.header('cache-control', 'no-cache');
      return f.body;
    });
  }
}
