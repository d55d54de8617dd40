/**
 * Runs the project's mock upstream (test/helpers/mock-upstream.ts) in its own process for the
 * benchmarks, so the mock's work does not share the measured process's event loop. Sends
 * `{ baseUrl }` to the parent over IPC; exits when the parent disconnects.
 */
import { startMockUpstream } from '../test/helpers/mock-upstream.js';

const mock = await startMockUpstream({ name: process.argv[2] ?? 'mock' });
process.send?.({ baseUrl: mock.baseUrl });
process.on('disconnect', () => {
  void mock.close().then(() => process.exit(0));
});
