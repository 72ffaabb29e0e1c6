import type { ToolDefinition } from '../generated/tools.js';
import type { Scope } from '../oauth/principal.js';
import { FULL_VIEW, viewShows, type CatalogueView } from './tool-groups.js';

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
 * The catalogue with each `tools/list` result computed once as JSON text per scope set (there are four), URL
 * view (`?tools=…&read_only=…`, tool-groups.ts) and era, so that listing tools costs a map lookup.
 */
export class ToolCatalogue {
  private readonly byName = new Map<string, ToolDefinition>();
  /** By `${era}|${scopes}|${view}`; at most 2 × 4 × (2^groups × 2) entries. */
  private readonly lists = new Map<string, string>();

  constructor(
    private readonly tools: readonly ToolDefinition[],
    private readonly modern: ModernListFields,
  ) {
    for (const tool of tools) this.byName.set(tool.name, tool);
  }

  get(name: string): ToolDefinition | undefined {
    return this.byName.get(name);
  }

  /** The `tools/list` result for a token with these scopes, as JSON text. */
  listResultJson(scopes: ReadonlySet<Scope>, view: CatalogueView = FULL_VIEW): string {
    return this.list('legacy', scopes, view);
  }

  /** The same as a 2026-07-28 result (resultType, cache hints, server identity). */
  modernListResultJson(scopes: ReadonlySet<Scope>, view: CatalogueView = FULL_VIEW): string {
    return this.list('modern', scopes, view);
  }

  private list(era: 'legacy' | 'modern', scopes: ReadonlySet<Scope>, view: CatalogueView): string {
    const key = `${era}|${scopeKey(scopes)}|${view.key}`;
    let json = this.lists.get(key);
    if (json === undefined) {
      const visible = this.tools.filter((t) => scopes.has(t.scope) && viewShows(view, t)).map(served);
      // `private`: the list depends on the token's scopes.
      json =
        era === 'legacy'
          ? JSON.stringify({ tools: visible })
          : JSON.stringify({
              resultType: 'complete',
              tools: visible,
              ttlMs: this.modern.ttlMs,
              cacheScope: 'private',
              _meta: this.modern._meta,
            });
      this.lists.set(key, json);
    }
    return json;
  }
}
