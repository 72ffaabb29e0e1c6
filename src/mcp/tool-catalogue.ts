import type { ToolDefinition } from '../generated/tools.js';
import type { Scope } from '../oauth/principal.js';

/**
 * What the default catalogue may cost a client's context (bytes, KB = 1,000): every tool's description plus its
 * served input schema, and the whole `tools/list` result for a token with every scope. Tools added later fit
 * inside these or go into a group a client opts into; raising a limit needs a stated reason.
 */
export const CATALOGUE_LIMITS = { descriptionsAndInputSchemasBytes: 20_000, toolsListBytes: 40_000 } as const;

const ALL_SCOPES: readonly Scope[] = ['read', 'write'];
const scopeKey = (scopes: ReadonlySet<Scope>) => ALL_SCOPES.filter((s) => scopes.has(s)).join(' ');

/** A tool as `tools/list` serves it: its served schemas; our internal `scope` and `rest` keys are not part of MCP. */
function served({ name, title, description, served: schemas, annotations }: ToolDefinition) {
  return { name, title, description, ...schemas, annotations };
}

/** What a modern (2026-07-28) `tools/list` result adds: how long to cache it, and who answered. */
export interface ModernListFields {
  ttlMs: number;
  _meta: Record<string, unknown>;
}

/**
 * The catalogue with each `tools/list` result precomputed as JSON text, once per scope set (there are four)
 * and era, so that listing tools costs a map lookup and a string concatenation.
 */
export class ToolCatalogue {
  private readonly byName = new Map<string, ToolDefinition>();
  private readonly listJson = new Map<string, string>();
  private readonly modernListJson = new Map<string, string>();

  constructor(tools: readonly ToolDefinition[], modern: ModernListFields) {
    for (const tool of tools) this.byName.set(tool.name, tool);
    const subsets: Scope[][] = [[], ['read'], ['write'], ['read', 'write']];
    for (const subset of subsets) {
      const scopes = new Set(subset);
      const visible = tools.filter((t) => scopes.has(t.scope)).map(served);
      this.listJson.set(scopeKey(scopes), JSON.stringify({ tools: visible }));
      // `private`: the list depends on the token's scopes.
      const result = { resultType: 'complete', tools: visible, ttlMs: modern.ttlMs, cacheScope: 'private', _meta: modern._meta };
      this.modernListJson.set(scopeKey(scopes), JSON.stringify(result));
    }
  }

  get(name: string): ToolDefinition | undefined {
    return this.byName.get(name);
  }

  /** The `tools/list` result for a token with these scopes, as JSON text. */
  listResultJson(scopes: ReadonlySet<Scope>): string {
    return this.listJson.get(scopeKey(scopes)) ?? '{"tools":[]}';
  }

  /** The same as a 2026-07-28 result (resultType, cache hints, server identity). */
  modernListResultJson(scopes: ReadonlySet<Scope>): string {
    return this.modernListJson.get(scopeKey(scopes)) ?? this.modernListJson.get('') ?? '';
  }
}
