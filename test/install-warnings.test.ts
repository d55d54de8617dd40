/**
 * scripts/install-warnings.mjs, the allow-list install-check.sh holds every install's stderr to:
 * allowed warnings pass with their reason, anything else fails the check and is printed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const script = resolve(__dirname, '..', 'scripts', 'install-warnings.mjs');
const tmp = mkdtempSync(join(tmpdir(), 'routecore-install-warnings-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function check(context: string, major: number, stderr: string) {
  const file = join(tmp, `${context}-${major}-${Math.random().toString(36).slice(2)}.err`);
  writeFileSync(file, stderr);
  const r = spawnSync(process.execPath, [script, context, String(major), file], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const engine = (pkg: string) =>
  [
    'npm warn EBADENGINE Unsupported engine {',
    `npm warn EBADENGINE   package: '${pkg}',`,
    "npm warn EBADENGINE   required: { node: '>=22' },",
    "npm warn EBADENGINE   current: { node: 'v20.20.2', npm: '11.19.1' }",
    'npm warn EBADENGINE }',
  ].join('\n');

const scripts = [
  'npm warn install-scripts 1 package has install scripts not yet covered by allowScripts:',
  'npm warn install-scripts   routecore@0.1.0 (install: node scripts/install.mjs)',
  'npm warn install-scripts',
  'npm warn install-scripts Run `npm install-scripts ls` to review, or `npm install-scripts approve <pkg>` to allow.',
].join('\n');

describe('install-warnings allow-list', () => {
  it('passes the allowed warnings with their reasons', () => {
    const repo = check('repo', 20, `${engine('ai@7.0.173')}\n${engine('@ai-sdk/provider@4.0.38')}\n${engine('cookie@2.0.2')}\n\nadded 435 packages in 3m\n`);
    expect(repo.code).toBe(0);
    expect(repo.stdout).toContain('allowed on Node 20 (repo): EBADENGINE ai, EBADENGINE @ai-sdk/provider: dev dependencies only');
    expect(repo.stdout).toContain('install-warnings: repo install on Node 20: no other npm warning');
    const app = check('app', 20, `${engine('cookie@2.0.2')}\n${scripts}\n`);
    expect(app.code).toBe(0);
    expect(app.stdout).toContain('allowed on Node 20 (app): install-scripts routecore: npm 11 lists every dependency');
    expect(check('app', 24, 'added 44 packages in 9s\n')).toMatchObject({ code: 0, stdout: 'install-warnings: app install on Node 24: no other npm warning\n' });
  });

  it('fails on a warning outside the list, or an allowed one in the wrong place', () => {
    const devInApp = check('app', 20, engine('ai@7.0.173'));
    expect(devInApp.code).toBe(1);
    expect(devInApp.stderr).toContain("install-warnings: 1 warning(s) not on the allow-list (app, Node 20):\nnpm warn EBADENGINE Unsupported engine {\nnpm warn EBADENGINE   package: 'ai@7.0.173',");
    expect(check('repo', 22, engine('ai@7.0.173')).code).toBe(1); // Node 22 satisfies ai 7: such a warning would be new
    const other = check('repo', 20, 'npm warn Unknown project config "onnxruntime-node-install". This will stop working in the next major version of npm.\n');
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('npm warn Unknown project config "onnxruntime-node-install"');
    const otherScript = check('app', 24, scripts.replace('routecore@0.1.0', 'left-pad@1.0.0'));
    expect(otherScript.code).toBe(1);
    expect(otherScript.stderr).toContain('left-pad@1.0.0');
  });
});
