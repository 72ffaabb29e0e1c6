import { loadConfig } from '../../config.js';
import { rotateSigningKey } from '../../oauth/keys.js';
import { loadSecretKey } from '../../secret-key.js';
import { UsageError, type Command } from '../command.js';

export const keysRotate: Command = {
  words: ['keys', 'rotate'],
  usage: '',
  summary: 'add a new token signing key; old keys stay valid until the tokens they signed expire (15 minutes)',
  positionals: [],
  options: {},
  async run(context, args) {
    if (args.positionals.length) throw new UsageError('keys rotate takes no arguments');
    const secret = loadSecretKey(loadConfig());
    const result = await rotateSigningKey(await context.db(), secret);
    return {
      json: { key: { kid: result.kid }, retired: result.retired },
      text: `new signing key ${result.kid}; retired ${result.retired.length ? result.retired.join(', ') : 'none'} (still verifiable for 20 minutes). Running servers switch within 30 seconds.`,
    };
  },
};
