import { validationFailed } from '../errors.js';
import type { ToolIO, ToolName } from '../generated/handlers.js';
import { toolValidators } from '../generated/tool-validators.js';
import type { ToolContext } from './context.js';
import { toolHandlers } from './index.js';
import { toViolations } from './validation.js';

/**
 * Validates a tool's input with its precompiled validator (filling in defaults) and runs its handler.
 * MCP and REST both come through here, so a tool behaves the same on either side.
 */
export async function runTool<N extends ToolName>(
  name: N,
  input: unknown,
  ctx: ToolContext,
  locate: string | ((field: string) => string) = 'input',
): Promise<ToolIO[N]['output']> {
  const validate = toolValidators[name].input;
  if (!validate(input)) throw validationFailed(toViolations(validate.errors, locate));
  const handler = toolHandlers[name] as (input: ToolIO[N]['input'], ctx: ToolContext) => Promise<ToolIO[N]['output']>;
  return handler(input, ctx);
}
