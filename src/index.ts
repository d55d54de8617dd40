/**
 * routecore: per-prompt LLM routing for Node.js services on a native C++/CUDA core.
 *
 * This entry point (`import … from 'routecore'`) is the application API: loading and training
 * routers, routing text and chat requests, executing them against upstreams, the registry, the
 * encoder seam, telemetry types, live learning, backend information and the errors. Evaluation
 * lives in `routecore/eval`; what serves the study of routers rather than serving with them
 * (training internals, the auto grid's constants and caches, reference routers, artifact readers,
 * the ONNX export) in `routecore/research`; the gateway in `routecore/serve`.
 * @module
 */
export { Router } from './app/router.js';
export { MAX_PROMPT_BYTES, defaultRouterPath } from './routing/router.js';
export type { RouterCore } from './routing/router.js';
export type { Decision, RouteOptions, RouterOptions, RouterStats, PolicyName, ThresholdOptions, TrainingSummary } from './routing/router.js';
export { majorityVote } from './routing/selection.js';
export type { SubsetOptions, SubsetChoice, VoteResult } from './routing/selection.js';
export type { CostOptions } from './routing/policy.js';
export { Registry } from './routing/registry.js';
export type { ModelEntry, ModelEntryInput } from './routing/registry.js';
export { train } from './training/train.js';
export type { TrainOptions, TrainResult, PredictorKind, EpochInfo } from './training/train.js';
export { readOutcomes, readPairwise, modelIdsOf } from './training/data.js';
export type { OutcomeRecord, PairwiseRecord, ReadReport, ReadOptions } from './training/data.js';
export { backendInfo, backendFromEnv } from './addon/backend.js';
export type { BackendInfo, BackendRequest, BackendSettings, AddonSource } from './addon/backend.js';
export { RoutecoreError, isRoutecoreError, ERROR_CODES } from './errors.js';
export type { ErrorCode } from './errors.js';
export { Canceller, Executor, UpstreamError, chatUrl, retryAfterMs } from './execution/executor.js';
export type { Cancellation, ExecutorOptions, ExecuteOptions, ChatResult, ChatStream, StreamChunk, StreamSummary, ExecutionInfo, ChatCompletion } from './execution/executor.js';
export type { Attempt, Outcome, OutcomeStatus, Usage, Feedback } from './app/hub.js';
export { Metrics, LATENCY_BUCKETS_S } from './execution/metrics.js';
export type { MetricsSnapshot, ModelMetrics } from './execution/metrics.js';
export { chatText, chatTextAsync, headAndTail, CONTEXT_TRIGGER_CHARS, CONTEXT_BUDGET_CHARS, DEFAULT_MAX_CHARS } from './chat/messages.js';
export type { ChatMessage, ChatRequest, ContentPart, ChatText, ChatTextOptions } from './chat/messages.js';
export type { ChatDecision, ChatRouteOptions } from './chat/route-chat.js';
export { MemoryState } from './state/memory.js';
export type { SharedState, CooldownMark, CooldownListener } from './state/shared-state.js';
export { OutcomeFile } from './execution/outcome-log.js';
/** @deprecated The old name of {@link OutcomeFile}. */
export { OutcomeFile as OutcomeLog } from './execution/outcome-log.js';
export type { AutoOptions, AutoReport, AutoObjective, AutoProgress, AutoCandidateResult } from './training/auto.js';
export { readOutcomeLog } from './training/auto-data.js';
export type { DataSpec, DataFileReport } from './training/auto-data.js';
export type { PostprocessSpec } from './routing/postprocess.js';
export type { Encoder } from './routing/encoder.js';
// Encoders (docs/ENCODERS.md): model2vec-layout static models, ONNX sentence encoders, coverage.
export { StaticModel } from './encoders/static.js';
export type { StaticModelOptions } from './encoders/static.js';
export { OnnxEncoder } from './encoders/onnx.js';
export type { OnnxEncoderOptions } from './encoders/onnx.js';
export { OnnxPredictor, PREDICTOR_CONFIG } from './encoders/onnx-predictor.js';
export type { OnnxPredictorConfig, OnnxPredictorOptions } from './encoders/onnx-predictor.js';
export { parseEncoderSpec } from './encoders/spec.js';
export type { EncoderChoice, EncoderKind } from './encoders/spec.js';
export type { Coverage } from './encoders/coverage.js';
// Learning on live traffic (docs/LEARNING.md): shadow judging, live quality, guarded learning.
export { Shadow, strongestModel } from './learning/shadow.js';
export type { ShadowOptions, ShadowTicket, AnsweredRequest, ShadowCounters } from './learning/shadow.js';
export { DEFAULT_JUDGE_TEMPLATE, loadJudgeTemplate, parseVerdict, combineVerdicts } from './learning/judge.js';
export type { JudgeTemplate, RawVerdict, PairVerdict } from './learning/judge.js';
export { qualityReport, wilson } from './learning/stats.js';
export type { QualityReport, Estimate } from './learning/stats.js';
export { learnOnce, rollback } from './learning/learn.js';
export type { LearnOptions, LearnDecision } from './learning/learn.js';
export { readLearningLog } from './training/judged-pairs.js';
export type { Judgment } from './training/judged-pairs.js';
