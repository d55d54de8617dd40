/**
 * The CLI's help and usage-error manners: per-command help cut from the one usage text, a usage error
 * as one visible line plus a hint (never scrolled away under the full help), and "did you mean"
 * suggestions for mistyped commands and flags in place of Node's raw `parseArgs` messages.
 *
 * The usage text stays the single source: a command's section is every line from one that starts with
 * two spaces and the command's name to the next such line, so a command added to the usage text gets
 * its own help, its typo suggestion and its flag suggestions without a second list to keep in step.
 * @module
 */
import { didYouMean } from '../errors.js';

/** A section header: two spaces, then a lower-case command word (`  route [PROMPT] ...`, `  log export ...`). */
const SECTION = /^ {2}([a-z][a-z-]*)(?=\s|$)/;

/** The command sections of a usage text: command name → its lines (a command may have several sections, like `train`). */
export function commandSections(usage: string): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of usage.split('\n')) {
    const m = SECTION.exec(line);
    if (m) {
      const name = m[1]!;
      current = sections.get(name) ?? [];
      if (current.length > 0) current.push('');
      current.push(line);
      sections.set(name, current);
    } else if (current && line.startsWith('    ')) {
      current.push(line);
    } else {
      current = undefined;
    }
  }
  return sections;
}

/** The lines of the usage text that follow the last command section (options for every command, environment). */
function trailer(usage: string): string[] {
  const lines = usage.split('\n');
  const i = lines.findIndex((l) => l.startsWith('Options for every command'));
  return i < 0 ? [] : lines.slice(i);
}

/** `routecore <command> --help`: that command's section(s) only, then the options every command takes. */
export function commandHelp(usage: string, command: string): string | undefined {
  const lines = commandSections(usage).get(command);
  if (!lines) return undefined;
  const body = lines.map((l) => (SECTION.test(l) ? `  routecore ${l.slice(2)}` : l));
  return ['Usage:', ...body, '', ...trailer(usage)].join('\n');
}

/** The flags a command's help names (`--router`, `--policy`, ...), plus those every command takes (`--help`, `--json`). */
export function commandFlags(usage: string, command: string): string[] {
  const text = [...(commandSections(usage).get(command) ?? []), ...trailer(usage)].join('\n');
  const flags = new Set<string>(['--help']);
  for (const m of text.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)) flags.add(m[0]);
  return [...flags];
}

/** The hint under a usage error: where the full story is. */
export function helpHint(command: string | undefined): string {
  return command === undefined ? 'Run "routecore --help" for the commands.' : `Run "routecore ${command} --help" for its options.`;
}

/** `unknown command "rout" (did you mean "route"?)`. */
export function unknownCommandMessage(usage: string, command: string): string {
  const hint = didYouMean(command, [...commandSections(usage).keys()]);
  return `unknown command "${command}"` + (hint ? ` (did you mean "${hint}"?)` : '');
}

/**
 * Node's `parseArgs` errors, said the CLI's way and with a suggestion (`unknown option --polcy for
 * "route" (did you mean --policy?)`); undefined for an error that is not one of them.
 */
export function parseArgsMessage(err: { code?: unknown; message?: unknown }, usage: string, command: string): string | undefined {
  const message = typeof err.message === 'string' ? err.message : '';
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const flag = /Unknown option '([^']+)'/.exec(message)?.[1] ?? '?';
      const known = commandFlags(usage, command);
      const hint = flag.startsWith('--') ? didYouMean(flag.slice(2), known.map((f) => f.slice(2))) : undefined;
      return `unknown option ${flag} for "${command}"` + (hint ? ` (did you mean --${hint}?)` : '');
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const missing = /Option '(?:-\w, )?(--[^ ']+) <value>' argument missing/.exec(message);
      if (missing) return `${missing[1]} needs a value`;
      const noValue = /Option '(?:-\w, )?(--[^ ']+)' does not take an argument/.exec(message);
      if (noValue) return `${noValue[1]} takes no value`;
      return message;
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': {
      const arg = /Unexpected argument '([^']*)'/.exec(message)?.[1];
      return `"${command}" takes no argument${arg === undefined ? 's' : ` "${arg}"`} (flags start with --)`;
    }
    default:
      return undefined;
  }
}
