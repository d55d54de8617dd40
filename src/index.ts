/**
 * routecore: per-prompt LLM routing for Node.js services on a native C++/CUDA core.
 * @module
 */
export { Router, MAX_PROMPT_BYTES, defaultRouterPath } from './routing/router.js';
export type { Decision, RouteOptions, RouterOptions, RouterStats, PolicyName, ThresholdOptions, TrainingSummary } from './routing/router.js';
export { majorityVote, strongWinProbability, calibrateThreshold, selectSubset } from './routing/selection.js';
export type { SubsetOptions, SubsetChoice, VoteResult } from './routing/selection.js';
export { train } from './training/train.js';
export type { TrainOptions, TrainResult, PredictorKind } from './training/train.js';
export { Registry } from './routing/registry.js';
export type { ModelEntry, ModelEntryInput } from './routing/registry.js';
export { readOutcomes, readPairwise, modelIdsOf } from './training/data.js';
export type { OutcomeRecord, PairwiseRecord, ReadReport, ReadOptions } from './training/data.js';
export type { CostOptions } from './routing/policy.js';
export { backendInfo, backendFromEnv } from './addon/backend.js';
export type { BackendInfo, BackendRequest, BackendSettings } from './addon/backend.js';
export { RoutecoreError, isRoutecoreError } from './errors.js';
export type { ErrorCode } from './errors.js';
export { pgrCurve, apgr, cpt, convexHull, aiq } from './evaluation/metrics.js';
export type { PgrPoint, CostQualityPoint } from './evaluation/metrics.js';
export { evaluate, evaluateScores, crossValidate, renderMarkdown, fnv1a32, DEFAULT_LAMBDAS, DEFAULT_NORMALIZED_LAMBDAS, DEFAULT_TARGETS } from './evaluation/eval.js';
export type { EvalReport, EvalPoint, SweepPoint, SingleResult, EvalOptions, EvalScoresOptions, CrossValidateOptions } from './evaluation/eval.js';
export { renderSvg } from './evaluation/plot.js';
export { exportOnnx, ONNX_INPUT, ONNX_OUTPUT } from './evaluation/onnx-export.js';
export type { OnnxExportOptions } from './evaluation/onnx-export.js';
export { ReferenceRouter, readRouterFile, routerNetwork, halfToFloat } from './evaluation/reference.js';
export type { RouterFile, RouterTensor, RouterNetwork, SparseRows } from './evaluation/reference.js';
export { averageScores, ScoreEnsemble, constantSource } from './routing/ensemble.js';
export { AUTO_MEMBERS, AUTO_MEMBER_SETS, AUTO_BETAS, AUTO_LAMBDAS, autoAlphas } from './training/auto.js';
export type { AutoOptions, AutoReport, AutoObjective, AutoProgress, AutoCandidateResult, OofCache } from './training/auto.js';
export { loadTrainingData, parseDataSpec, readOutcomeLog } from './training/auto-data.js';
export type { DataSpec, DataFileReport } from './training/auto-data.js';
export { reliability } from './evaluation/calibration.js';
export type { Reliability, ReliabilityBin } from './evaluation/calibration.js';
export type { PostprocessSpec } from './routing/postprocess.js';
