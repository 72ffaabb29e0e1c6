/**
 * Compares two contract directories (e.g. specs/released/ and specs/), each compiled exactly as
 * `npm run generate` compiles specs/ (loadSpecs + bundleOpenApi, tools included), and lists:
 *  - breaking changes, one per rule of rules.ts, with a JSON pointer into the compiled contract;
 *  - additions and deprecations, for the changelog of `npm run contract:release`.
 *
 * Pointers are `openapi.json#/paths/...` (the bundled contract, `$ref`s followed) or `tools/<name>#/input/...`
 * (a tool's schemas as `tools/list` serves them).
 */
import fs from 'node:fs';
import path from 'node:path';
import { bundleOpenApi, toolSchemas } from '../bundle.js';
import { HTTP_METHODS } from '../operations.js';
import { dereference } from '../refs.js';
import { isObject, loadSpecs, type Json, type JsonObject } from '../specs.js';
import { why, type RuleId } from './rules.js';

export interface CompiledContract {
  openapi: JsonObject;
  tools: Map<string, { scope: string; title: string; input: JsonObject; output: JsonObject }>;
}

export interface BreakingChange {
  pointer: string;
  rule: RuleId;
  why: string;
}

export interface Note {
  pointer: string;
  text: string;
}

export interface ContractDiff {
  breaking: BreakingChange[];
  added: Note[];
  deprecated: Note[];
}

/** The contract of a directory, or undefined when it holds none (e.g. an empty specs/released/). */
export function compileContract(dir: string): CompiledContract | undefined {
  if (!fs.existsSync(path.join(dir, 'openapi.yaml'))) return undefined;
  const specs = loadSpecs(dir);
  const bundle = bundleOpenApi(specs);
  const openapi = dereference(bundle, path.join(dir, 'openapi.yaml'), bundle, specs);
  if (!isObject(openapi)) throw new Error(`${dir}: the bundled contract is not an object`);
  const tools: CompiledContract['tools'] = new Map();
  for (const tool of specs.tools) tools.set(tool.name, { scope: tool.scope, title: tool.title, ...toolSchemas(tool, specs) });
  return { openapi, tools };
}

const esc = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');
const obj = (value: Json | undefined): JsonObject => (isObject(value) ? value : {});
const list = (value: Json | undefined): Json[] => (Array.isArray(value) ? value : []);
const str = (value: Json | undefined): string => (typeof value === 'string' ? value : JSON.stringify(value ?? null));
const strings = (value: Json | undefined): string[] => list(value).filter((v): v is string => typeof v === 'string');

type Direction = 'request' | 'response';

class Differ {
  readonly diff: ContractDiff = { breaking: [], added: [], deprecated: [] };

  breaking(pointer: string, rule: RuleId): void {
    this.diff.breaking.push({ pointer, rule, why: why(rule) });
  }

  added(pointer: string, text: string): void {
    this.diff.added.push({ pointer, text });
  }

  deprecated(before: JsonObject, after: JsonObject, pointer: string, text: string): void {
    if (after.deprecated === true && before.deprecated !== true) this.diff.deprecated.push({ pointer, text });
  }

  schema(before: Json | undefined, after: Json | undefined, at: string, dir: Direction): void {
    if (!isObject(before) || !isObject(after)) return;
    if (this.type(before, after, at, dir)) return;
    this.enumValues(before, after, at, dir);
    if (dir === 'request') this.constraints(before, after, at);
    this.properties(before, after, at, dir);
    this.schema(before.items, after.items, `${at}/items`, dir);
    this.schema(before.additionalProperties, after.additionalProperties, `${at}/additionalProperties`, dir);
    for (const key of ['oneOf', 'anyOf', 'allOf'] as const) {
      const b = list(before[key]);
      const a = list(after[key]);
      if (b.length === a.length) b.forEach((item, i) => this.schema(item, a[i], `${at}/${key}/${i}`, dir));
    }
  }

  /** Reports a changed type; true when it did (nothing below it is worth comparing then). */
  private type(before: JsonObject, after: JsonObject, at: string, dir: Direction): boolean {
    const types = (s: JsonObject) => (s.type === undefined ? undefined : strings(Array.isArray(s.type) ? s.type : [s.type]));
    // `accepts(wide, t)`: a value of type t is valid against the type list `wide` (undefined = any).
    const accepts = (wide: string[] | undefined, t: string) => !wide || wide.includes(t) || (t === 'integer' && wide.includes('number'));
    const b = types(before);
    const a = types(after);
    const broken =
      dir === 'request'
        ? a !== undefined && (b === undefined || b.some((t) => !accepts(a, t)))
        : b !== undefined && (a === undefined || a.some((t) => !accepts(b, t)));
    if (broken) this.breaking(`${at}/type`, 'changed-type');
    return broken;
  }

  private enumValues(before: JsonObject, after: JsonObject, at: string, _dir: Direction): void {
    if (!Array.isArray(before.enum) || !Array.isArray(after.enum)) return;
    const key = (v: Json) => JSON.stringify(v);
    const afterKeys = new Set(after.enum.map(key));
    const beforeKeys = new Set(before.enum.map(key));
    if (before.enum.some((v) => !afterKeys.has(key(v)))) this.breaking(`${at}/enum`, 'removed-enum-value');
    for (const v of after.enum) if (!beforeKeys.has(key(v))) this.added(`${at}/enum`, `enum value ${key(v)}`);
  }

  private constraints(before: JsonObject, after: JsonObject, at: string): void {
    const num = (v: Json | undefined) => (typeof v === 'number' ? v : undefined);
    for (const key of ['maxLength', 'maximum', 'exclusiveMaximum', 'maxItems', 'maxProperties']) {
      const b = num(before[key]);
      const a = num(after[key]);
      if (a !== undefined && (b === undefined || a < b)) this.breaking(`${at}/${key}`, 'tightened-bound');
    }
    for (const key of ['minLength', 'minimum', 'exclusiveMinimum', 'minItems', 'minProperties']) {
      const b = num(before[key]);
      const a = num(after[key]);
      if (a !== undefined && (b === undefined || a > b)) this.breaking(`${at}/${key}`, 'tightened-bound');
    }
    if (typeof after.pattern === 'string' && after.pattern !== before.pattern) this.breaking(`${at}/pattern`, 'tightened-pattern');
    const open = (v: Json | undefined) => v === undefined || v === true || (isObject(v) && Object.keys(v).length === 0);
    if (open(before.additionalProperties) && !open(after.additionalProperties)) {
      this.breaking(`${at}/additionalProperties`, 'closed-additional-properties');
    }
  }

  private properties(before: JsonObject, after: JsonObject, at: string, dir: Direction): void {
    const b = obj(before.properties);
    const a = obj(after.properties);
    const bRequired = new Set(strings(before.required));
    const aRequired = new Set(strings(after.required));
    for (const [name, schema] of Object.entries(b)) {
      const ptr = `${at}/properties/${esc(name)}`;
      if (!(name in a)) {
        if (dir === 'response') this.breaking(ptr, 'removed-response-field');
        else if (after.additionalProperties === false) this.breaking(ptr, 'removed-request-field');
        continue;
      }
      if (dir === 'response' && bRequired.has(name) && !aRequired.has(name)) this.breaking(ptr, 'optional-response-field');
      this.deprecated(obj(schema), obj(a[name]), ptr, `field \`${name}\``);
      this.schema(schema, a[name], ptr, dir);
    }
    for (const name of Object.keys(a)) {
      const ptr = `${at}/properties/${esc(name)}`;
      if (dir === 'request' && aRequired.has(name) && !bRequired.has(name)) this.breaking(ptr, 'new-required-request-field');
      else if (!(name in b)) this.added(ptr, `${dir === 'request' && !aRequired.has(name) ? 'optional ' : ''}field \`${name}\``);
    }
  }

  /** `scopeChanged`: the operation mirrors a tool whose scope changed, reported once as the tool's changed-scope. */
  operation(
    before: JsonObject,
    after: JsonObject,
    at: string,
    docs: { before: JsonObject; after: JsonObject },
    scopeChanged = false,
  ): void {
    this.deprecated(before, after, at, 'operation');
    if (!scopeChanged) this.security(before, after, at, docs);
    if (before['x-scope'] !== after['x-scope'] && (before['x-scope'] !== undefined || after['x-scope'] !== undefined)) {
      if (typeof before['x-tool'] !== 'string') this.breaking(`${at}/x-scope`, 'changed-scope');
    }
    // A tool's REST mirror is derived from the tool's schemas, which are compared as the tool itself.
    if (typeof before['x-tool'] === 'string' && before['x-tool'] === after['x-tool']) return;

    const params = (op: JsonObject) =>
      new Map(
        list(op.parameters)
          .filter(isObject)
          .map((p, i) => [`${str(p.in)}:${str(p.name)}`, { p, i }] as const),
      );
    const bp = params(before);
    const ap = params(after);
    for (const [key, { p }] of bp) {
      if (!ap.has(key) && p.in !== 'path') this.breaking(`${at}/parameters/${esc(str(p.name))}`, 'removed-parameter');
    }
    for (const [key, { p, i }] of ap) {
      const ptr = `${at}/parameters/${i}`;
      const old = bp.get(key)?.p;
      if (p.required === true && old?.required !== true) this.breaking(ptr, 'new-required-parameter');
      else if (!old) this.added(ptr, `parameter \`${str(p.name)}\` (${str(p.in)})`);
      if (old) {
        this.deprecated(old, p, ptr, `parameter \`${str(p.name)}\``);
        this.schema(old.schema, p.schema, `${ptr}/schema`, 'request');
      }
    }

    const bBody = obj(before.requestBody);
    const aBody = obj(after.requestBody);
    if (aBody.required === true && bBody.required !== true) this.breaking(`${at}/requestBody/required`, 'new-required-request-field');
    for (const [type, media] of Object.entries(obj(bBody.content))) {
      const next = obj(aBody.content)[type];
      if (next) this.schema(obj(media).schema, obj(next).schema, `${at}/requestBody/content/${esc(type)}/schema`, 'request');
    }

    for (const [status, response] of Object.entries(obj(before.responses))) {
      const next = obj(obj(after.responses)[status]);
      for (const [type, media] of Object.entries(obj(obj(response).content))) {
        const nextMedia = obj(next.content)[type];
        const ptr = `${at}/responses/${esc(status)}/content/${esc(type)}/schema`;
        if (nextMedia) this.schema(obj(media).schema, obj(nextMedia).schema, ptr, 'response');
      }
    }
  }

  /** Breaking when some way of authenticating that satisfied the operation before no longer does. */
  private security(before: JsonObject, after: JsonObject, at: string, docs: { before: JsonObject; after: JsonObject }): void {
    const alternatives = (op: JsonObject, doc: JsonObject) => {
      const declared = op.security ?? doc.security;
      const reqs = Array.isArray(declared) && declared.length > 0 ? declared.filter(isObject) : [{}];
      return reqs.map((req) =>
        JSON.stringify(
          Object.entries(req)
            .sort(([x], [y]) => x.localeCompare(y))
            .map(([scheme, scopes]) => [scheme, strings(scopes).sort()]),
        ),
      );
    };
    const b = alternatives(before, docs.before);
    const a = new Set(alternatives(after, docs.after));
    if (a.has('[]')) return; // public now: everything that worked still works
    if (b.some((alt) => !a.has(alt))) this.breaking(`${at}/security`, 'changed-security');
  }
}

/** Everything that changed from `before` to `after`, breaking changes first in document order. */
export function diffContracts(before: CompiledContract, after: CompiledContract): ContractDiff {
  const d = new Differ();
  const docs = { before: before.openapi, after: after.openapi };
  const bPaths = obj(before.openapi.paths);
  const aPaths = obj(after.openapi.paths);
  for (const [p, item] of Object.entries(bPaths)) {
    for (const method of HTTP_METHODS) {
      const op = obj(item)[method];
      if (!isObject(op)) continue;
      const at = `openapi.json#/paths/${esc(p)}/${method}`;
      const next = obj(aPaths[p])[method];
      const tool = typeof op['x-tool'] === 'string' ? op['x-tool'] : undefined;
      const scopeChanged = tool !== undefined && before.tools.get(tool)?.scope !== after.tools.get(tool)?.scope;
      if (isObject(next)) d.operation(op, next, at, docs, scopeChanged);
      // A removed tool is reported once, as the tool; a tool whose REST route moved is a removed operation.
      else if (!(typeof op['x-tool'] === 'string' && !after.tools.has(op['x-tool']))) d.breaking(at, 'removed-operation');
    }
  }
  for (const [p, item] of Object.entries(aPaths)) {
    for (const method of HTTP_METHODS) {
      const op = obj(item)[method];
      if (isObject(op) && !isObject(obj(bPaths[p])[method])) {
        d.added(`openapi.json#/paths/${esc(p)}/${method}`, `operation \`${method.toUpperCase()} ${p}\` (${str(op.operationId)})`);
      }
    }
  }
  for (const [name, tool] of before.tools) {
    const at = `tools/${name}#`;
    const next = after.tools.get(name);
    if (!next) {
      d.breaking(at, 'removed-tool');
      continue;
    }
    if (next.scope !== tool.scope) d.breaking(`${at}/scope`, 'changed-scope');
    d.schema(tool.input, next.input, `${at}/input`, 'request');
    d.schema(tool.output, next.output, `${at}/output`, 'response');
  }
  for (const [name, tool] of after.tools) {
    if (!before.tools.has(name)) d.added(`tools/${name}#`, `tool \`${name}\` (${tool.scope}): ${tool.title}`);
  }
  return d.diff;
}

/** One line per breaking change: `<json pointer>: <rule>: <why it breaks clients>`. */
export function formatBreaking(changes: readonly BreakingChange[]): string[] {
  return changes.map((c) => `${c.pointer}: ${c.rule}: ${c.why}`);
}
