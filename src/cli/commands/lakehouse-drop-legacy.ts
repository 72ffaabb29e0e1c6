import type { Command } from '../command.js';

export const lakehouseDropLegacy: Command = {
  words: ['lakehouse', 'drop-legacy'],
  usage: '',
  summary:
    'drop the PostgreSQL lakehouse of earlier versions (env_ schemas, sample schema, sandbox roles); refuses while any table is not verified in the new layout',
  positionals: [],
  options: {},
  async run(context) {
    // Loaded when the command runs: every admin command would otherwise pay for this one's modules.
    const { dropLegacy } = await import('../../lakehouse/upgrade.js');
    const dropped = await dropLegacy(await context.db());
    const nothing = dropped.schemas.length === 0 && dropped.roles.length === 0 && !dropped.sample;
    const lines = nothing
      ? ['nothing to drop: no legacy lakehouse schemas or roles are left']
      : [
          `dropped ${dropped.schemas.length} environment schema(s)${dropped.schemas.length ? `: ${dropped.schemas.join(', ')}` : ''}`,
          dropped.sample ? 'dropped the legacy sample schema' : 'no legacy sample schema',
          `dropped ${dropped.roles.length} sandbox role(s)${dropped.roles.length ? `: ${dropped.roles.join(', ')}` : ''}`,
        ];
    return {
      json: { dropped: { schemas: dropped.schemas, sample_schema: dropped.sample, roles: dropped.roles } },
      text: lines.join('\n'),
    };
  },
};
