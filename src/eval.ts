/**
 * `routecore/eval`: replaying outcome records through a router, cross-validation, the routing
 * metrics (PGR, APGR, CPT, AIQ), calibration reliability and the report renderers (Markdown, SVG).
 * @module
 */
export { evaluate, evaluateScores, renderMarkdown, DEFAULT_LAMBDAS, DEFAULT_NORMALIZED_LAMBDAS, DEFAULT_TARGETS } from './evaluation/eval.js';
export { crossValidate } from './evaluation/cross-validate.js';
export type { EvalReport, EvalPoint, SweepPoint, SingleResult, EvalOptions, EvalScoresOptions } from './evaluation/eval.js';
export type { CrossValidateOptions } from './evaluation/cross-validate.js';
export { pgrCurve, apgr, cpt, convexHull, aiq } from './evaluation/metrics.js';
export type { PgrPoint, CostQualityPoint } from './evaluation/metrics.js';
export { renderSvg } from './evaluation/plot.js';
export { reliability } from './evaluation/calibration.js';
export type { Reliability, ReliabilityBin } from './evaluation/calibration.js';
