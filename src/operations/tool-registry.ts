import { validationFailed } from '../errors.js';
import type { ToolIO, ToolName } from '../generated/handlers.js';
import { toolCatalogue, type ToolDefinition } from '../generated/tools.js';
import { toolInputValidators } from '../generated/tool-validators.js';
import type { ToolContext } from './context.js';
import { toolHandlers } from './index.js';
import { toViolations } from './validation.js';

/** Where a violation's field came from: `input` over MCP; `path`, `query` or `body` on REST. */
export type Locate = string | ((field: string) => string);

/** The tools a server offers and how each is checked and run: the generated ones, unless a test injects others. */
export interface ToolRegistry {
  tools: readonly ToolDefinition[];
  /** Checks the input against the tool's schema, filling in its defaults; throws validationFailed. */
  validate(name: string, input: unknown, locate: Locate): void;
  /** Runs the tool's implementation on a validated input. */
  run(name: string, input: unknown, ctx: ToolContext): Promise<unknown>;
}

/** The tools of the contract: precompiled validators (src/generated) and the handlers of src/operations/index.ts. */
export const generatedTools: ToolRegistry = {
  tools: toolCatalogue,
  validate(name, input, locate) {
    const validate = toolInputValidators[name as ToolName];
    if (!validate(input)) throw validationFailed(toViolations(validate.errors, locate));
  },
  run(name, input, ctx) {
    const handler = toolHandlers[name as ToolName] as (input: unknown, ctx: ToolContext) => Promise<ToolIO[ToolName]['output']>;
    return handler(input, ctx);
  },
};
