/**
 * P6: knn over 100k reference prompts, batch 1024, CUDA vs the CPU backend. There is no knn
 * predictor yet, so there is nothing to time: the suite says so and why, and reports no number
 * (never an estimate). It also records whether this machine has a usable GPU.
 * @module
 */
import { backendInfo } from '../src/index.js';
import type { Figure, SetupInfo, Suite } from './common.js';

export const p6: Suite = {
  id: 'P6',
  title: 'knn over 100k reference prompts, batch 1024, CUDA vs CPU',
  async run(_setup: SetupInfo) {
    let gpu = 'no GPU lent';
    try {
      const info = backendInfo({ backend: 'auto', threads: 1 });
      if (info.cuda.usable) gpu = `a usable GPU is present (${info.cuda.detail})`;
      else gpu = `no GPU lent (${info.cuda.detail})`;
    } catch (err) {
      gpu = `no GPU lent (backendInfo failed: ${(err as Error).message})`;
    }
    const reason = `not measured: no knn predictor yet; ${gpu}`;
    const figures: Figure[] = [{ key: 'cudaSpeedup', label: 'knn CUDA / CPU throughput', value: NaN, unit: 'ratio', note: reason }];
    return { id: 'P6', title: p6.title, figures, details: { status: 'not measured', reason } };
  },
};
