import { AssertionError } from 'node:assert';
import { AsyncLocalStorage } from 'node:async_hooks';
import { assertIsProblem, assertMatchesContract, contractRoute } from './contract.js';

/**
 * Every `fetch` of a test process checks what our server answers against the contract. test/run.ts loads this
 * module into every test process (`--import`), so direct `fetch` calls, the Browser helper, openapi-fetch's
 * restClient and the MCP SDK's client are all covered without any test asking for it.
 *
 * Checked: requests to a loopback host (the servers under test) whose method and path are an operation of
 * specs/openapi.yaml (also under the issuer's path), through assertMatchesContract: the status is declared, the
 * content type is declared for it, a JSON body matches its schema. An error answered for a path that is not an
 * operation of that method (the app's 404 under /api/, its 405 for a declared path) must be a problem document.
 * Not checked: /v1 (MCP: JSON-RPC, checked by the SDK's own schemas), HEAD and OPTIONS, followed redirects, paths
 * outside the contract (test doubles: webhook receivers, metadata-document servers). A mismatch rejects the fetch
 * with an AssertionError naming the method, the path, the status and the schema error, which fails the test;
 * in case a caller swallows that error (a client's fallback, the server's own outbound fetches), the process also
 * exits non-zero with every mismatch it saw on stderr, which fails the test file.
 */

// Kept on globalThis: the --import and a test's own import of this file must share one switch and one wrapper.
const STATE = Symbol.for('lakehouse-mcp.contract-fetch');
const global = globalThis as typeof globalThis & { [STATE]?: { unchecked: AsyncLocalStorage<true>; mismatches: string[] } };
const installed = global[STATE];
const unchecked = installed?.unchecked ?? new AsyncLocalStorage<true>();
const mismatches = installed?.mismatches ?? [];

/** The contract mismatches seen so far, forgotten: for a test that provokes them on purpose. */
export function takeContractMismatches(): string[] {
  return mismatches.splice(0);
}

/** Runs `fn` with its fetches unchecked: for a test that talks to a server breaking the contract on purpose. */
export function withoutContractCheck<T>(fn: () => T): T {
  return unchecked.run(true, fn);
}

const LOOPBACK = /^(localhost|[a-z0-9-]+\.localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/** The contract check of one fetched response; resolves when it conforms (or is none of ours), rejects otherwise. */
export async function checkFetchedResponse(method: string, url: URL, response: Response): Promise<void> {
  if (method === 'HEAD' || method === 'OPTIONS' || response.redirected || !LOOPBACK.test(url.hostname)) return;
  const path = url.pathname;
  if (path === '/v1' || path.startsWith('/v1/')) return;
  const route = contractRoute(method, path);
  if (route) return assertMatchesContract(method, route.path, response);
  const ours = path.startsWith('/api/') || contractRoute(undefined, path) !== undefined;
  if (ours && response.status >= 400) return assertIsProblem(method, path, response);
}

function requestOf(input: string | URL | Request, init: RequestInit | undefined): { method: string; url: URL } | undefined {
  try {
    const url = new URL(input instanceof Request ? input.url : input);
    const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    return { method, url };
  } catch {
    return undefined; // not a URL fetch understands either: let fetch itself reject it
  }
}

if (!installed) {
  global[STATE] = { unchecked, mismatches };
  const baseFetch = globalThis.fetch;
  globalThis.fetch = async function contractCheckedFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    const request = unchecked.getStore() ? undefined : requestOf(input, init);
    const response = await baseFetch(input, init);
    if (request) {
      try {
        await checkFetchedResponse(request.method, request.url, response);
      } catch (error) {
        if (error instanceof AssertionError) mismatches.push(error.message);
        throw error;
      }
    }
    return response;
  };
  process.on('exit', () => {
    if (mismatches.length === 0) return;
    process.stderr.write(`${mismatches.length} response(s) broke the contract in this test process:\n${mismatches.join('\n')}\n`);
    process.exitCode = 1;
  });
}
