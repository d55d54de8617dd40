// A Worker terminated while it routes, scores asynchronously and trains must not take the process
// down. Before NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS (CMakeLists.txt) and the catch-all in
// Worker::callJs, a native call or a job delivery in the terminating Worker threw into an
// environment that could not take a JS exception: std::terminate, in ~3 of 5 runs of this script.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');
const addon = join(root, 'build', 'Release', 'routecore.node');

describe.skipIf(!existsSync(addon))('terminating a Worker mid-work', () => {
  it('the stress script (4 Workers, one terminated, hostile inputs) exits cleanly, three times', () => {
    for (let run = 0; run < 3; run++) {
      const r = spawnSync(process.execPath, [join(root, 'scripts', 'sanitize-stress.mjs'), '--addon', addon, '--rounds', '2'], { encoding: 'utf8', timeout: 300_000 });
      expect(r.signal, r.stderr).toBeNull();
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/sanitize stress: .* clean\n$/);
    }
  }, 900_000);
});
