/**
 * onnxruntime-node is a development dependency and an optional peer of routecore, never a runtime
 * dependency (288 MB, and its postinstall fetches CUDA libraries from outside the npm registry).
 * Its users load it here, lazily, so the rest of the benchmarks run without it.
 * @module
 */
export type OnnxRuntime = typeof import('onnxruntime-node');

/** Imports onnxruntime-node, or throws an Error saying how to install it. `user`: who needs it. */
export async function loadOnnxRuntime(user: string): Promise<OnnxRuntime> {
  try {
    return await import('onnxruntime-node');
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new Error(
        `${user} needs onnxruntime-node, which is not installed: run \`npm install --no-save onnxruntime-node\` ` +
          '(the repository .npmrc keeps its postinstall from downloading CUDA libraries)',
        { cause: err },
      );
    }
    throw err;
  }
}
