import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { createLakehouseClient } from '../../../src/client/index.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';

// `lakehouse-mcp/client` as a partner gets it: built by `npm run build:client` (what `prepare` runs on a git
// install) into dist/, imported by package name from another project with plain node, and type-checked there.

const ROOT = path.resolve(import.meta.dirname, '../../..');
let app: TestApp;
let tmp: string;
before(async () => {
  app = await startTestApp();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lakehouse-client-'));
});
after(async () => {
  await app?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('lakehouse-mcp/client', () => {
  it('calls the REST API with typed paths and bodies, sending the bearer token on every request', async () => {
    const seen: string[] = [];
    const api = createLakehouseClient(`${app.url}/`, {
      token: async () => 'a-token',
      fetch: (request: Request) => {
        seen.push(request.headers.get('authorization') ?? '');
        return fetch(request);
      },
    });
    const { data, error } = await api.GET('/api/v1/tools');
    assert.equal(error, undefined);
    assert.ok(data && data.tools.some((t) => t.name === 'search_docs'));
    // An authenticated route refuses the made-up token with a typed problem document.
    const search = await api.POST('/api/v1/docs/search', { body: { query: 'semantic model', limit: 3 } });
    assert.equal(search.response.status, 401);
    assert.equal(typeof search.error?.code, 'string');
    assert.deepEqual(seen, ['Bearer a-token', 'Bearer a-token']);
  });

  it('installs into another project: plain-node ESM import by package name, and its types check', async () => {
    // The package as a git install leaves it: its files, dist/ built by `prepare`, its dependencies beside it.
    const pkg = path.join(tmp, 'project/node_modules/lakehouse-mcp');
    fs.mkdirSync(pkg, { recursive: true });
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
    execFileSync(process.execPath, [
      path.join(ROOT, 'node_modules/typescript/bin/tsc'),
      '-p',
      path.join(ROOT, 'tsconfig.client.json'),
      '--outDir',
      path.join(pkg, 'dist'),
    ]);
    fs.symlinkSync(path.join(ROOT, 'node_modules/openapi-fetch'), path.join(tmp, 'project/node_modules/openapi-fetch'));
    const project = path.join(tmp, 'project');
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'partner', type: 'module', private: true }));
    fs.writeFileSync(
      path.join(project, 'check.ts'),
      `import { createLakehouseClient, type Schema } from 'lakehouse-mcp/client';
const api = createLakehouseClient('http://localhost:3000', { token: 'x' });
export async function titles(): Promise<string[]> {
  const { data } = await api.GET('/api/v1/tools');
  const tools: Schema<'ToolDescription'>[] = data?.tools ?? [];
  // @ts-expect-error a path the contract does not have
  await api.GET('/api/v1/nope');
  // @ts-expect-error a body of the wrong type
  await api.POST('/api/v1/docs/search', { body: { query: 42 } });
  return tools.map((t) => t.title);
}
`,
    );
    fs.writeFileSync(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          lib: ['ES2022', 'DOM'],
          noEmit: true,
          skipLibCheck: true,
          types: [],
        },
        files: ['check.ts'],
      }),
    );
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', project], { encoding: 'utf8' });
    fs.writeFileSync(
      path.join(project, 'run.mjs'),
      `import { createLakehouseClient } from 'lakehouse-mcp/client';
const { data, response } = await createLakehouseClient(process.argv[2]).GET('/api/v1/tools');
console.log(response.status, data.tools.length);
`,
    );
    // Asynchronously: the server runs in this process.
    const { stdout } = await promisify(execFile)(process.execPath, [path.join(project, 'run.mjs'), app.url], {
      cwd: project,
      encoding: 'utf8',
    });
    assert.match(stdout, /^200 [1-9]\d*\n$/);
  });
});
