/**
 * routecore: per-prompt LLM routing for Node.js services on a native C++/CUDA core.
 * @module
 */
export { Router, MAX_PROMPT_BYTES, defaultRouterPath } from './router.js';
export type { Decision, RouteOptions, RouterOptions, RouterStats, PolicyName, ThresholdOptions, TrainingSummary } from './router.js';
export { majorityVote, strongWinProbability, calibrateThreshold, selectSubset } from './selection.js';
export type { SubsetOptions, SubsetChoice, VoteResult } from './selection.js';
export { train } from './train.js';
export type { TrainOptions, TrainResult, PredictorKind } from './train.js';
export { Registry } from './registry.js';
export type { ModelEntry, ModelEntryInput } from './registry.js';
export { readOutcomes, readPairwise, modelIdsOf } from './data.js';
export type { OutcomeRecord, PairwiseRecord, ReadReport, ReadOptions } from './data.js';
export type { CostOptions } from './policy.js';
export { backendInfo, backendFromEnv } from './backend.js';
export type { BackendInfo, BackendRequest, BackendSettings } from './backend.js';
export { RoutecoreError, isRoutecoreError } from './errors.js';
export type { ErrorCode } from './errors.js';
export { pgrCurve, apgr, cpt, convexHull, aiq } from './metrics.js';
export type { PgrPoint, CostQualityPoint } from './metrics.js';
export { evaluate, evaluateScores, crossValidate, renderMarkdown, fnv1a32, DEFAULT_LAMBDAS, DEFAULT_NORMALIZED_LAMBDAS, DEFAULT_TARGETS } from './eval.js';
export type { EvalReport, EvalPoint, SweepPoint, SingleResult, EvalOptions, EvalScoresOptions, CrossValidateOptions } from './eval.js';
export { renderSvg } from './plot.js';
export { exportOnnx, ONNX_INPUT, ONNX_OUTPUT } from './onnx-export.js';
export type { OnnxExportOptions } from './onnx-export.js';
export { ReferenceRouter, readRouterFile, routerNetwork, halfToFloat } from './reference.js';
export type { RouterFile, RouterTensor, RouterNetwork, SparseRows } from './reference.js';
export { averageScores, ScoreEnsemble, constantSource } from './ensemble.js';
