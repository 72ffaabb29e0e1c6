import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fillsDefaults, withDefaults } from '../../codegen/emit-types.js';
import { drift, generate } from '../../codegen/generate.js';
import { loadSpecs, SpecError, type JsonObject } from '../../codegen/specs.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
let files: Map<string, string>;
let tmp: string;

before(async () => {
  files = await generate();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lakehouse-codegen-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function copyTree(to: string): void {
  for (const file of files.keys()) {
    fs.mkdirSync(path.dirname(path.join(to, file)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, file), path.join(to, file));
  }
}

/** A copy of specs/ in which `edit` changes one file, for the spec-error rules. */
function specsWith(name: string, edit: (root: string) => void): string {
  const root = path.join(tmp, name, 'specs');
  fs.cpSync(path.join(ROOT, 'specs'), root, { recursive: true });
  edit(root);
  return root;
}

describe('npm run generate', () => {
  it('is fresh on main: the committed generated files are what specs/ compile to', () => {
    assert.deepEqual(drift(files), []);
  });

  it('is deterministic', async () => {
    const again = await generate();
    assert.deepEqual([...again.keys()], [...files.keys()]);
    for (const [file, content] of again) assert.equal(content, files.get(file), file);
  });

  it('marks every generated source file DO NOT EDIT', () => {
    for (const [file, content] of files) {
      if (file.endsWith('.json')) continue;
      assert.match(content.slice(0, 200), /DO NOT EDIT/, file);
    }
  });

  it('reports a hand-edited generated file, a missing one and a stray one, by name', () => {
    const root = path.join(tmp, 'drift');
    copyTree(root);
    fs.appendFileSync(path.join(root, 'src/generated/routes.ts'), '\n// a hand edit\n');
    fs.rmSync(path.join(root, 'src/generated/tools.ts'));
    fs.writeFileSync(path.join(root, 'src/generated/extra.ts'), 'export {};\n');
    assert.deepEqual(drift(files, root).sort(), [
      'src/generated/extra.ts: not generated from specs/ (remove it)',
      'src/generated/routes.ts: differs from what specs/ generate',
      'src/generated/tools.ts: missing',
    ]);
  });

  it('serves tool schemas without any $ref, so MCP clients can list them', () => {
    const catalogue = files.get('src/generated/tools.ts') ?? '';
    assert.ok(catalogue.includes('"name": "search_docs"'));
    assert.doesNotMatch(catalogue, /\$ref/);
  });

  it('publishes each shared schema of specs/schemas/ once, as a named component that its uses $ref', () => {
    const text = files.get('src/generated/openapi.json') ?? '';
    type Schema = { type?: string; properties?: Record<string, { items?: unknown }> };
    const schemas = (JSON.parse(text) as { components: { schemas: Record<string, Schema> } }).components.schemas;
    for (const name of ['Insight', 'Dashboard', 'Memory', 'Discovery', 'Notification', 'SemanticModel', 'Problem', 'Chart']) {
      assert.equal(schemas[name]?.type, 'object', `${name} is not a component`);
    }
    const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
    assert.deepEqual(schemas.CreateInsightOutput, ref('Insight'));
    assert.deepEqual(schemas.ListInsightsOutput?.properties?.items?.items, ref('Insight'));
    assert.deepEqual(schemas.GetSemanticModelOutput?.properties?.model, ref('SemanticModel'));
    assert.doesNotMatch(text, /"x-component"|"x-validator"|"x-served"|"\$defs"/);
  });

  it('serves an `x-served` node as written there, and validates and publishes the whole schema', async () => {
    const { toolCatalogue } = await import('../../src/generated/tools.js');
    const updateInsight = toolCatalogue.find((tool) => tool.name === 'update_insight');
    const served = updateInsight?.served.inputSchema as unknown as { properties: Record<string, unknown> };
    assert.deepEqual(served.properties.chart, { type: 'object', description: 'As in create_insight; replaces the chart.' });
    const full = updateInsight?.inputSchema as unknown as { properties: Record<string, { properties?: object }> };
    assert.ok(full.properties.chart?.properties, 'the validated schema keeps the whole chart');
    const contract = JSON.parse(files.get('src/generated/openapi.json') ?? '') as { paths: Record<string, Record<string, unknown>> };
    assert.match(JSON.stringify(contract.paths['/api/v1/insights/{id}']), /"chart":\{"\$ref":"#\/components\/schemas\/Chart"\}/);
  });

  it('types each shared schema once: tool-types.ts names the components of openapi.ts', () => {
    const openapi = files.get('src/generated/openapi.ts') ?? '';
    const toolTypes = files.get('src/generated/tool-types.ts') ?? '';
    assert.equal(openapi.match(/^ {8}SemanticModel: \{$/gm)?.length, 1);
    assert.match(toolTypes, /^export type SemanticModel = components\["schemas"\]\["SemanticModel"\];$/m);
    assert.match(toolTypes, /^export type ViewInsightOutput = components\["schemas"\]\["ViewInsightOutput"\];$/m);
    // Fields of shared schemas and of outputs are typed in openapi.ts only.
    assert.doesNotMatch(toolTypes, /\b(interface|widget_count|deliveries|created_by)\b/);
  });

  it('emits the validators as CommonJS over many lines, not as one line of megabytes', () => {
    for (const name of ['validators.cjs', 'response-validators.cjs', 'param-validators.cjs']) {
      const code = files.get(`src/generated/${name}`) ?? '';
      const lines = code.split('\n');
      assert.ok(lines.length > 1000, `${name}: ${lines.length} lines`);
      assert.ok(Math.max(...lines.map((line) => line.length)) < 20_000, `${name} has a line of 20,000 characters or more`);
      assert.match(code, /^"use strict";$/m);
      assert.match(code, /^exports\.\w+ = validate\d+;$/m);
      assert.doesNotMatch(code, /^(export|import) /m);
    }
  });
});

describe('validated input types', () => {
  const limit = { type: 'integer', default: 10 };
  const components: Record<string, JsonObject> = {
    Page: { type: 'object', properties: { limit } },
    Plain: { type: 'object', properties: { name: { type: 'string' } } },
  };
  const resolve = (ref: string) => components[ref.replace('#/components/schemas/', '')] ?? assert.fail(ref);

  it('require the fields ajv fills in (useDefaults), nested ones too, and no others', () => {
    const schema: JsonObject = {
      type: 'object',
      required: ['sql'],
      properties: {
        sql: { type: 'string' },
        limit,
        order: { type: 'array', items: { type: 'object', properties: { direction: { type: 'string', default: 'asc' }, field: {} } } },
        either: { anyOf: [{ type: 'object', properties: { limit } }] },
      },
    };
    const out = withDefaults(schema, resolve) as { required: string[]; properties: Record<string, JsonObject> };
    assert.deepEqual(out.required, ['sql', 'limit']);
    assert.deepEqual((out.properties.order?.items as JsonObject).required, ['direction']);
    assert.deepEqual(
      out.properties.either,
      schema.properties && (schema.properties as JsonObject).either,
      'anyOf branches get no defaults',
    );
    assert.ok(fillsDefaults(schema, resolve));
    assert.ok(!fillsDefaults({ type: 'object', properties: { sql: { type: 'string' } } }, resolve));
  });

  it('keep a $ref to a component without defaults and inline one with them', () => {
    const schema: JsonObject = {
      type: 'object',
      properties: { page: { $ref: '#/components/schemas/Page' }, plain: { $ref: '#/components/schemas/Plain' } },
    };
    const out = withDefaults(schema, resolve) as { properties: Record<string, JsonObject> };
    assert.deepEqual(out.properties.plain, { $ref: '#/components/schemas/Plain' });
    assert.deepEqual(out.properties.page, { type: 'object', properties: { limit }, required: ['limit'] });
  });
});

describe('spec rules', () => {
  it('refuses a tool file not named after its tool', () => {
    const root = specsWith('misnamed', (r) => fs.renameSync(path.join(r, 'tools/get_doc.yaml'), path.join(r, 'tools/read_doc.yaml')));
    assert.throws(
      () => loadSpecs(root),
      (e: unknown) => e instanceof SpecError && /named after its tool/.test(e.message),
    );
  });

  it('refuses a tool without a valid scope', () => {
    const root = specsWith('scope', (r) => {
      const file = path.join(r, 'tools/get_doc.yaml');
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('scope: read', 'scope: admin'));
    });
    assert.throws(() => loadSpecs(root), /"scope" must be read or write/);
  });

  it('refuses two tools on the same REST route', () => {
    const root = specsWith('route', (r) => {
      const file = path.join(r, 'tools/search_docs.yaml');
      const text = fs
        .readFileSync(file, 'utf8')
        .replace('name: search_docs', 'name: search_docs_again')
        .replace('operationId: searchDocs', 'operationId: searchDocsAgain');
      fs.writeFileSync(path.join(r, 'tools/search_docs_again.yaml'), text);
    });
    assert.throws(() => loadSpecs(root), /already used by/);
  });
});
