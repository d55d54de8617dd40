/**
 * The registry of benchmark suites, in run order. A new suite is one module exporting a
 * {@link Suite} plus one line here.
 * @module
 */
import type { Suite } from './common.js';
import { p1 } from './p1-latency.js';
import { p2 } from './p2-throughput.js';
import { pp } from './pp-predictors.js';
import { p3 } from './p3-concurrency.js';
import { p4 } from './p4-onnxruntime.js';
import { p5 } from './p5-typescript.js';
import { p6 } from './p6-knn.js';
import { p7 } from './p7-training.js';
import { p8 } from './p8-startup.js';

export const SUITES: readonly Suite[] = [p1, p2, pp, p3, p4, p5, p6, p7, p8];
