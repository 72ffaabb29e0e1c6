import { invalidParams, runTool, type FeatureCall } from './feature-call.js';
import { findPrompt } from './prompts.js';
import { TEMPLATES } from './resources.js';

// completion/complete: values for the arguments of the resource templates and the prompts, from the
// environment's own data (through the tools, so with the token's scope and environment).

const MAX_VALUES = 100;
const MAX_VALUE_CHARS = 200;
/** Events seen over this many days complete a funnel step (the sample spans 90 days). */
const EVENT_DAYS = 365;

type Source = (call: FeatureCall, context: Record<string, string>) => Promise<Candidate[]>;

/** A value, and other text it may be found by (an insight's title finds its id). */
interface Candidate {
  value: string;
  alias?: string;
}

const values = (list: string[]): Candidate[] => list.map((value) => ({ value }));

const connections: Source = async (call) => values((await runTool(call, 'list_connections', {})).items.map((c) => c.name));

const tables: Source = async (call, context) => {
  const name = context.connection ?? 'sample';
  const described = await runTool(call, 'get_connection', { name });
  return values(described.schemas.flatMap((s) => s.tables.map((t) => t.name)));
};

const models: Source = async (call) => values((await runTool(call, 'list_semantic_models', {})).items.map((m) => m.name));

const metrics: Source = async (call) =>
  values((await runTool(call, 'list_semantic_models', {})).items.flatMap((m) => m.measures.map((measure) => `${m.name}.${measure}`)));

const insights: Source = async (call) =>
  (await runTool(call, 'list_insights', { limit: MAX_VALUES })).items.map((i) => ({ value: i.id, alias: i.title }));

const dashboards: Source = async (call) =>
  (await runTool(call, 'list_dashboards', { limit: MAX_VALUES })).items.map((d) => ({ value: d.id, alias: d.title }));

/** The environment's exported results (read scope, as the export resource itself needs). */
const exportIds: Source = async (call) =>
  call.principal.scopes.has('read')
    ? (await call.services.lakehouse.results.list(call.principal.environmentId, MAX_VALUES)).map((f) => ({
        value: f.id,
        alias: `${f.format} ${f.createdAt.toISOString()}`,
      }))
    : [];

const events: Source = async (call, context) => {
  const to = new Date();
  const from = new Date(to.getTime() - EVENT_DAYS * 86_400_000);
  const found = await runTool(call, 'list_events', {
    connection: context.connection ?? 'sample',
    table: 'events',
    from: from.toISOString(),
    to: to.toISOString(),
    limit: 1000,
  });
  return values(found.items.map((e) => e.event));
};

/** Where each argument's values come from, by template or prompt. */
const SOURCES: Record<string, Record<string, Source>> = {
  [`resource:${TEMPLATES.table}`]: { connection: connections, table: tables },
  [`resource:${TEMPLATES.semanticModel}`]: { name: models },
  [`resource:${TEMPLATES.insight}`]: { id: insights },
  [`resource:${TEMPLATES.dashboard}`]: { id: dashboards },
  [`resource:${TEMPLATES.export}`]: { id: exportIds },
  'prompt:weekly_metrics_review': { model: models },
  'prompt:investigate_metric_drop': { metric: metrics },
  'prompt:funnel_analysis': { steps: events, connection: connections },
  'prompt:describe_table': { table: tables, connection: connections },
};

/** Arguments whose value is a comma-separated list: the last item is completed, the ones before kept. */
const LISTS = new Set(['prompt:funnel_analysis/steps']);

const asRecord = (value: unknown): Record<string, unknown> | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;

/** The values matching what was typed: prefix matches first, then matches inside the value or its alias. */
function rank(candidates: Candidate[], typed: string): string[] {
  const needle = typed.toLowerCase();
  const prefix: string[] = [];
  const inside: string[] = [];
  for (const { value, alias } of candidates) {
    const v = value.toLowerCase();
    if (v.startsWith(needle)) prefix.push(value);
    else if (v.includes(needle) || alias?.toLowerCase().includes(needle)) inside.push(value);
  }
  return [...new Set([...prefix, ...inside])];
}

/** completion/complete's result: at most 100 values, with the total and whether there are more. */
export async function complete(call: FeatureCall, params: Record<string, unknown>) {
  const ref = asRecord(params.ref);
  const argument = asRecord(params.argument);
  if (!ref || !argument || typeof argument.name !== 'string' || typeof argument.value !== 'string')
    throw invalidParams('Invalid params: ref and argument {name, value} are required.');
  let key: string;
  if (ref.type === 'ref/prompt' && typeof ref.name === 'string') {
    if (!findPrompt(ref.name)) throw invalidParams(`Invalid params: no prompt named ${JSON.stringify(ref.name.slice(0, 100))}.`);
    key = `prompt:${ref.name}`;
  } else if (ref.type === 'ref/resource' && typeof ref.uri === 'string') {
    key = `resource:${ref.uri}`;
    if (!SOURCES[key]) throw invalidParams(`Invalid params: no resource template ${JSON.stringify(ref.uri.slice(0, 200))}.`);
  } else {
    throw invalidParams('Invalid params: ref must be {type: "ref/prompt", name} or {type: "ref/resource", uri}.');
  }
  const source = SOURCES[key]?.[argument.name];
  if (!source) throw invalidParams(`Invalid params: nothing to complete for argument ${JSON.stringify(argument.name.slice(0, 100))}.`);
  if (argument.value.length > MAX_VALUE_CHARS)
    throw invalidParams(`Invalid params: argument.value is longer than ${MAX_VALUE_CHARS} characters.`);
  const context: Record<string, string> = {};
  for (const [name, value] of Object.entries(asRecord(asRecord(params.context)?.arguments) ?? {})) {
    if (typeof value === 'string' && value.length <= MAX_VALUE_CHARS) context[name] = value;
  }

  let head = '';
  let typed = argument.value;
  if (LISTS.has(`${key}/${argument.name}`)) {
    const cut = typed.lastIndexOf(',') + 1;
    head = typed.slice(0, cut);
    typed = typed.slice(cut).trimStart();
  }
  const matches = rank(await source(call, context), typed).map((value) => head + value);
  return { completion: { values: matches.slice(0, MAX_VALUES), total: matches.length, hasMore: matches.length > MAX_VALUES } };
}
