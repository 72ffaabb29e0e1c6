import { parseArgs, type ParseArgsConfig } from 'node:util';

/**
 * node:util parseArgs, except that a string option's value may start with a dash: `--client-secret -x1…` is
 * taken as the value (as getopt does), where parseArgs alone refuses it as "ambiguous". Generated secrets and
 * tokens are base64url, so one in 64 starts with `-`.
 */
export function parseCliArgs<T extends ParseArgsConfig & { args: string[] }>(config: T): ReturnType<typeof parseArgs<T>> {
  const stringOptions = new Set<string>();
  for (const [name, option] of Object.entries(config.options ?? {})) {
    if (option.type !== 'string') continue;
    stringOptions.add(`--${name}`);
    if (option.short) stringOptions.add(`-${option.short}`);
  }
  const args: string[] = [];
  for (let i = 0; i < config.args.length; i++) {
    const arg = config.args[i] as string;
    const value = config.args[i + 1];
    if (arg === '--') {
      args.push(...config.args.slice(i));
      break;
    }
    if (stringOptions.has(arg) && value !== undefined && value.startsWith('-')) {
      args.push(arg.startsWith('--') ? `${arg}=${value}` : `${arg}${value}`);
      i++;
    } else {
      args.push(arg);
    }
  }
  return parseArgs({ ...config, args });
}
