/**
 * The registry of benchmark suites, in run order. A new suite (P3 concurrency, P4 onnxruntime, ...)
 * is one module exporting a {@link Suite} plus one line here.
 * @module
 */
import type { Suite } from './common.js';
import { p1 } from './p1-latency.js';
import { p2 } from './p2-throughput.js';

export const SUITES: readonly Suite[] = [p1, p2];
