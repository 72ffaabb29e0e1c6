import type { ToolDefinition } from '../generated/tools.js';
import type { Scope } from '../oauth/principal.js';

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
