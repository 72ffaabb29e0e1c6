import type { ToolName } from '../generated/handlers.js';
import { toolCatalogue, type ToolDefinition } from '../generated/tools.js';
import type { ToolContext } from '../operations/context.js';
import { runTool } from '../operations/run-tool.js';
import type { Scope } from '../oauth/principal.js';

/** The tools an endpoint serves and how it runs them: the generated catalogue and runTool, unless a test injects others. */
export interface ToolRegistry {
  tools: readonly ToolDefinition[];
  /** Validates the input (throwing validationFailed) and runs the tool. */
  run(name: string, input: unknown, ctx: ToolContext): Promise<unknown>;
}

export const generatedTools: ToolRegistry = {
  tools: toolCatalogue,
  run: (name, input, ctx) => runTool(name as ToolName, input, ctx),
};

const ALL_SCOPES: readonly Scope[] = ['read', 'write'];
const scopeKey = (scopes: ReadonlySet<Scope>) => ALL_SCOPES.filter((s) => scopes.has(s)).join(' ');

/** A tool as `tools/list` serves it: our internal `scope` and `rest` keys are not part of MCP. */
function served({ name, title, description, inputSchema, outputSchema, annotations }: ToolDefinition) {
  return { name, title, description, inputSchema, outputSchema, annotations };
}

/**
 * The catalogue with each `tools/list` result precomputed as JSON text, once per scope set (there are four),
 * so that listing tools costs a map lookup and a string concatenation.
 */
export class ToolCatalogue {
  private readonly byName = new Map<string, ToolDefinition>();
  private readonly listJson = new Map<string, string>();

  constructor(tools: readonly ToolDefinition[]) {
    for (const tool of tools) this.byName.set(tool.name, tool);
    const subsets: Scope[][] = [[], ['read'], ['write'], ['read', 'write']];
    for (const subset of subsets) {
      const scopes = new Set(subset);
      const visible = tools.filter((t) => scopes.has(t.scope)).map(served);
      this.listJson.set(scopeKey(scopes), JSON.stringify({ tools: visible }));
    }
  }

  get(name: string): ToolDefinition | undefined {
    return this.byName.get(name);
  }

  /** The `tools/list` result for a token with these scopes, as JSON text. */
  listResultJson(scopes: ReadonlySet<Scope>): string {
    return this.listJson.get(scopeKey(scopes)) ?? '{"tools":[]}';
  }
}
