import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { drift, generate } from '../../codegen/generate.js';
import { loadSpecs, SpecError } from '../../codegen/specs.js';

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
