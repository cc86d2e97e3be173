// Reading a subcommand's arguments: node's parseArgs (strict), its errors turned into usage errors
// (exit code 2), and the options several commands share.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './exit-codes.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/** `{ a: { type: 'string' }, b: … }`: options that each take one value. */
export function stringOptions<const N extends string>(...names: N[]): { [K in N]: { type: 'string' } } {
  return Object.fromEntries(names.map((n) => [n, { type: 'string' }])) as { [K in N]: { type: 'string' } };
}

export const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;
export const JSON_OPTION = { json: { type: 'boolean' } } as const;
export const OUT_OPTION = { out: { type: 'string', short: 'o' } } as const;
export const MODEL_OPTIONS = stringOptions('model', 'models-dir');
export const PROMPT_OPTIONS = { prompt: { type: 'string', short: 'p' }, negative: { type: 'string', short: 'n' } } as const;

export interface CommandLineRules<P extends boolean> {
  /** Arguments that are not options (a subcommand, a file). */
  positionals: P;
  /** Read `--seed -1` as the option's value (parseArgs alone takes `-1` for an unknown flag). */
  negativeNumbers?: boolean;
  /** Appended to parseArgs' own message (e.g. where the prompt goes). */
  hint?: (message: string) => string;
}

export type ParsedCommandLine<O extends Options, P extends boolean> = ReturnType<typeof parseArgs<{ options: O; strict: true; allowPositionals: P }>>;

export function parseCommandLine<O extends Options, P extends boolean>(argv: string[], options: O, rules: CommandLineRules<P>): ParsedCommandLine<O, P> {
  const args = rules.negativeNumbers ? joinNegativeNumbers(argv, options) : argv;
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: rules.positionals }) as ParsedCommandLine<O, P>;
  } catch (e) {
    const message = (e as Error).message;
    throw new UsageError(`${message}${rules.hint?.(message) ?? ''}`);
  }
}

/** A negative number after an option that takes a value becomes `--option=-1`. */
function joinNegativeNumbers(argv: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].startsWith('--') ? argv[i].slice(2) : undefined;
    const option = name === undefined ? undefined : options[name];
    if (option?.type === 'string' && /^-\d+(\.\d+)?$/.test(argv[i + 1] ?? '')) out.push(`${argv[i]}=${argv[++i]}`);
    else out.push(argv[i]);
  }
  return out;
}
