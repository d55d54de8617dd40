/**
 * The CLI's manners (issue 22, point 7): per-command help, a usage error as one visible line plus a
 * hint, suggestions for mistyped commands and flags, and `serve` naming `--alias` when the registry
 * lacks the router's models. Every message is asserted as the user sees it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { commandFlags, commandHelp, commandSections, parseArgsMessage, unknownCommandMessage } from '../src/cli/help.js';

const root = resolve(__dirname, '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const built = existsSync(cli);
if (!built) console.warn(`skipping CLI process tests: ${cli} is missing (run \`npm run build:ts\`)`);
const tmp = mkdtempSync(join(tmpdir(), 'routecore-cli-help-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function run(args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000, cwd: tmp, env: { ...process.env, ROUTECORE_BACKEND: 'cpu' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const USAGE = `Usage: tool <command>

Commands:
  info                 what is there
      --router F       a file
  route [PROMPT]       route
      --policy P       a policy
      --max-cost USD   a cap
  train --data F       train
  train --auto --data F   train by itself
      --budget-s S --workers N
  log export --db F    export
Options for every command: --json, --help
Environment: X=1`;

describe('help.ts on a usage text', () => {
  it('cuts sections by command, several sections per command joined', () => {
    const s = commandSections(USAGE);
    expect([...s.keys()]).toEqual(['info', 'route', 'train', 'log']);
    expect(s.get('train')).toEqual(['  train --data F       train', '', '  train --auto --data F   train by itself', '      --budget-s S --workers N']);
    expect(commandHelp(USAGE, 'route')).toBe(
      'Usage:\n  routecore route [PROMPT]       route\n      --policy P       a policy\n      --max-cost USD   a cap\n\nOptions for every command: --json, --help\nEnvironment: X=1',
    );
    expect(commandHelp(USAGE, 'nope')).toBeUndefined();
  });

  it('knows each command\'s flags, and those every command takes', () => {
    expect(commandFlags(USAGE, 'route')).toEqual(['--help', '--policy', '--max-cost', '--json']);
    expect(commandFlags(USAGE, 'train')).toEqual(['--help', '--data', '--auto', '--budget-s', '--workers', '--json']);
  });

  it('suggests commands and flags, and rewrites parseArgs errors', () => {
    expect(unknownCommandMessage(USAGE, 'rout')).toBe('unknown command "rout" (did you mean "route"?)');
    expect(unknownCommandMessage(USAGE, 'xyzzy')).toBe('unknown command "xyzzy"');
    expect(parseArgsMessage({ code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION', message: "Unknown option '--polcy'" }, USAGE, 'route')).toBe(
      'unknown option --polcy for "route" (did you mean --policy?)',
    );
    expect(parseArgsMessage({ code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION', message: "Unknown option '--max-cst'" }, USAGE, 'route')).toBe(
      'unknown option --max-cst for "route" (did you mean --max-cost?)',
    );
    expect(parseArgsMessage({ code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION', message: "Unknown option '--zzzzzz'" }, USAGE, 'route')).toBe('unknown option --zzzzzz for "route"');
    expect(parseArgsMessage({ code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION', message: "Unknown option '-z'" }, USAGE, 'route')).toBe('unknown option -z for "route"');
    expect(parseArgsMessage({ code: 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE', message: "Option '--policy <value>' argument missing" }, USAGE, 'route')).toBe('--policy needs a value');
    expect(parseArgsMessage({ code: 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE', message: "Option '--json' does not take an argument" }, USAGE, 'info')).toBe('--json takes no value');
    expect(parseArgsMessage({ code: 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL', message: "Unexpected argument 'x'. This command does not take positional arguments" }, USAGE, 'info')).toBe(
      '"info" takes no argument "x" (flags start with --)',
    );
    expect(parseArgsMessage({ code: 'ERR_SOMETHING_ELSE', message: 'x' }, USAGE, 'info')).toBeUndefined();
  });
});

describe.skipIf(!built)('routecore CLI messages', () => {
  const hint = (command?: string) => (command ? `Run "routecore ${command} --help" for its options.\n` : 'Run "routecore --help" for the commands.\n');

  it('route --help prints route\'s help only', () => {
    const r = run(['route', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith('Usage:\n  routecore route [PROMPT]')).toBe(true);
    expect(r.stdout).toContain('--policy best|cost|threshold|subset');
    expect(r.stdout).not.toContain('routecore train');
    expect(r.stdout).not.toContain('serve --registry');
    expect(r.stdout.trimEnd().split('\n').length).toBeLessThan(25);
    const serve = run(['serve', '-h']);
    expect(serve.stdout).toContain('--log sqlite:PATH|jsonl:PATH|none');
    expect(serve.stdout).not.toContain('routecore route');
    expect(run(['--help']).stdout).toContain('  train --auto');
  });

  it('a mistyped command or flag: one line with a suggestion, then the hint (exit 2)', () => {
    expect(run(['rout', 'hi'])).toMatchObject({ code: 2, stdout: '', stderr: `routecore: unknown command "rout" (did you mean "route"?)\n${hint()}` });
    expect(run(['route', '--polcy', 'best', 'hi'])).toMatchObject({ code: 2, stderr: `routecore: unknown option --polcy for "route" (did you mean --policy?)\n${hint('route')}` });
    expect(run(['serve', '--regsitry', 'm.json'])).toMatchObject({ code: 2, stderr: `routecore: unknown option --regsitry for "serve" (did you mean --registry?)\n${hint('serve')}` });
    expect(run(['info', '--jsn'])).toMatchObject({ code: 2, stderr: `routecore: unknown option --jsn for "info" (did you mean --json?)\n${hint('info')}` });
    expect(run(['route', '--router'])).toMatchObject({ code: 2, stderr: `routecore: --router needs a value\n${hint('route')}` });
    expect(run(['info', 'extra'])).toMatchObject({ code: 2, stderr: `routecore: "info" takes no argument "extra" (flags start with --)\n${hint('info')}` });
    expect(run(['log', 'export', '--formt', 'x'])).toMatchObject({ code: 2, stderr: `routecore: unknown option --formt for "log" (did you mean --format?)\n${hint('log')}` });
  });

  it('the command\'s own usage errors stay one line plus the hint', () => {
    expect(run(['route', '--policy', 'cheapest', 'hi'])).toMatchObject({ code: 2, stderr: `routecore: --policy expects best, cost, threshold or subset, got "cheapest"\n${hint('route')}` });
    expect(run(['train', '--out', 'x.router'])).toMatchObject({ code: 2, stderr: `routecore: train needs at least one --data F.jsonl\n${hint('train')}` });
    expect(run(['serve'])).toMatchObject({ code: 2, stderr: `routecore: serve needs --registry M.json (or --config F.yaml naming one)\n${hint('serve')}` });
    expect(run(['route', '--lambda', '5', '--policy', 'best', 'hi'])).toMatchObject({ code: 2, stderr: `routecore: --lambda, --target, --max-cost and --require apply to --policy cost\n${hint('route')}` });
  });

  it('route without --policy uses the router\'s default (threshold for the embedded router); a knob implies its policy', () => {
    expect(JSON.parse(run(['route', 'hi']).stdout).policy).toBe('threshold');
    expect(JSON.parse(run(['route', '--policy', 'best', 'hi']).stdout).policy).toBe('best');
    expect(JSON.parse(run(['route', '--lambda', '5', 'hi']).stdout).policy).toBe('cost');
    expect(JSON.parse(run(['route', '--threshold', '0.3', 'hi']).stdout)).toMatchObject({ policy: 'threshold', model: 'strong' });
  });

  it('serve without aliases names --alias with the ids on both sides', () => {
    const registry = join(tmp, 'models.json');
    writeFileSync(registry, JSON.stringify({ models: [{ id: 'gpt-4o', baseUrl: 'http://127.0.0.1:9/v1' }, { id: 'gpt-4o-mini', baseUrl: 'http://127.0.0.1:9/v1' }] }));
    const r = run(['serve', '--registry', registry, '--port', '0', '--log', 'none']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `routecore: the router's models (strong, weak) are not in the registry ${registry} (gpt-4o, gpt-4o-mini): map each to a registry id, e.g. --alias strong=gpt-4o --alias weak=gpt-4o-mini\n${hint('serve')}`,
    );
  });
});
