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
export { Executor, UpstreamError, chatUrl, retryAfterMs } from './execution/executor.js';
export type { ExecutorOptions, ExecuteOptions, ChatResult, ChatStream, StreamChunk, StreamSummary, ExecutionInfo, ChatCompletion } from './execution/executor.js';
export type { Attempt, Outcome, OutcomeStatus, Usage, Feedback } from './chat/hub.js';
export { Metrics, LATENCY_BUCKETS_S } from './execution/metrics.js';
export type { MetricsSnapshot, ModelMetrics } from './execution/metrics.js';
export { chatText, chatTextAsync, headAndTail, CONTEXT_TRIGGER_CHARS, CONTEXT_BUDGET_CHARS, DEFAULT_MAX_CHARS } from './chat/messages.js';
export type { ChatMessage, ChatRequest, ContentPart, ChatText, ChatTextOptions } from './chat/messages.js';
export type { ChatDecision, ChatRouteOptions } from './chat/route-chat.js';
export { MemoryState } from './state/memory.js';
export type { SharedState, CooldownMark, CooldownListener } from './state/shared-state.js';
export { OutcomeLog } from './execution/outcome-log.js';
