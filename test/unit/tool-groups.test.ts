import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toolCatalogue } from '../../src/generated/tools.js';
import { ALWAYS_LISTED, catalogueView, CatalogueViewError, TOOL_GROUPS, viewShows } from '../../src/mcp/tool-groups.js';

const view = (query: string) => catalogueView(new URLSearchParams(query));

describe('tool groups: the MCP URL narrows the catalogue', () => {
  it('puts every tool in exactly one group, except the one every view keeps', () => {
    const grouped = Object.values(TOOL_GROUPS).flat() as string[];
    assert.equal(new Set(grouped).size, grouped.length, 'a tool is in two groups');
    assert.deepEqual([...grouped, ALWAYS_LISTED].sort(), toolCatalogue.map((t) => t.name).sort());
  });

  it('reads tools= and read_only=, and a URL without them shows everything', () => {
    assert.ok(toolCatalogue.every((t) => viewShows(view(''), t)));
    const sql = view('tools=sql,docs');
    assert.ok(viewShows(sql, { name: 'query_lakehouse', scope: 'read' }));
    assert.ok(viewShows(sql, { name: 'get_doc', scope: 'read' }));
    assert.ok(viewShows(sql, { name: 'get_session_context', scope: 'read' }));
    assert.ok(!viewShows(sql, { name: 'create_insight', scope: 'write' }));
    const readOnly = view('read_only=true');
    assert.ok(!viewShows(readOnly, { name: 'create_insight', scope: 'write' }));
    assert.ok(viewShows(readOnly, { name: 'view_insight', scope: 'read' }));
    assert.equal(view('tools=docs,sql').key, view('tools=sql,docs,sql').key);
  });

  it('refuses unknown groups, repeated parameters and other read_only values, saying what is accepted', () => {
    assert.throws(
      () => view('tools=sql,everything'),
      (e: unknown) => e instanceof CatalogueViewError && /groups are sql, semantic, assets, docs/.test(e.message),
    );
    assert.throws(() => view('tools='), CatalogueViewError);
    assert.throws(() => view('read_only=yes'), /true or false/);
    assert.throws(() => view('tools=sql&tools=docs'), /at most once/);
  });
});
