/**
 * `routecore/research`: the pieces for studying and reproducing routers rather than serving
 * with them: the pure-TypeScript reference router, readers of the `.router` artifact, float16
 * decoding, the hash eval uses to split records, score ensembles, the ONNX export, the training
 * internals (the single-predictor trainer, the `train --auto` grid's constants, its out-of-fold
 * cache, weighted data loading, baselines, operating points) and the policies' building blocks.
 * @module
 */
export { ReferenceRouter, readRouterFile, routerNetwork, halfToFloat } from './evaluation/reference.js';
export type { RouterFile, RouterTensor, RouterNetwork, SparseRows } from './evaluation/reference.js';
export { fnv1a32 } from './training/hash.js';
export { averageScores, ScoreEnsemble, constantSource } from './routing/ensemble.js';
export type { ScoreSource } from './routing/ensemble.js';
export { exportOnnx, ONNX_INPUT, ONNX_OUTPUT } from './evaluation/onnx-export.js';
export type { OnnxExportOptions } from './evaluation/onnx-export.js';
export { baselineScores, ridgeFit, ridgePredict, knnScores, TfidfEncoder } from './training/baselines.js';
export type { BaselineScores, CsrRows, RidgeModel } from './training/baselines.js';
export { chooseOperatingPoint, lambdaFor } from './training/operating-point.js';
export type { CostTarget, OperatingPoint } from './training/operating-point.js';
export { procedureGain, GUARD_SE } from './training/auto.js';
export { trainPredictor } from './training/fit.js';
export type { PredictorOptions, PredictorResult } from './training/fit.js';
export { AUTO_MEMBERS, AUTO_MEMBER_SETS, AUTO_BETAS, AUTO_LAMBDAS, autoAlphas } from './training/auto.js';
export type { OofCache } from './training/auto.js';
export { loadTrainingData, parseDataSpec } from './training/auto-data.js';
export { strongWinProbability, calibrateThreshold, selectSubset } from './routing/selection.js';
