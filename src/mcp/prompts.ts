import { invalidParams } from './feature-call.js';

// MCP prompts: analyses people repeat, each a user message that names the tools to use and the steps. The
// arguments are checked against strict patterns before they are written into the message (they are text
// a model will read, so nothing but names, dates and numbers gets in).

interface PromptArgument {
  name: string;
  description: string;
  required?: boolean;
  /** What a value must look like. */
  pattern: RegExp;
  /** Said in the error when a value does not match. */
  shape: string;
}

interface PromptDefinition {
  name: string;
  title: string;
  description: string;
  arguments: PromptArgument[];
  render(args: Record<string, string | undefined>): string;
}

const NAME = /^[a-z][a-z0-9_]{0,62}$/;
const TABLE = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const METRIC = /^[a-z][a-z0-9_]{0,62}\.[a-z][a-z0-9_]{0,62}$/;
const EVENT_LIST = /^[A-Za-z0-9_.:-]{1,100}(\s*,\s*[A-Za-z0-9_.:-]{1,100}){1,9}$/;
const DAYS = /^[1-9][0-9]{0,2}$/;

const steps = (lines: string[]) => lines.map((line, i) => `${i + 1}. ${line}`).join('\n');

export const PROMPTS: readonly PromptDefinition[] = [
  {
    name: 'weekly_metrics_review',
    title: 'Weekly metrics review',
    description: "Review last week's key metrics of a semantic model against the weeks before, with the drivers of the changes.",
    arguments: [
      { name: 'model', description: 'Semantic model (default product_events).', pattern: NAME, shape: 'a semantic model name' },
      {
        name: 'week_ending',
        description: 'Last day of the week, YYYY-MM-DD (default: the latest data).',
        pattern: DATE,
        shape: 'YYYY-MM-DD',
      },
    ],
    render: ({ model = 'product_events', week_ending }) =>
      `Review the weekly metrics of the semantic model "${model}" for the week ending ${week_ending ?? 'on the latest day with data'}.\n\n` +
      steps([
        `get_semantic_model {"name":"${model}"}: read its measures, dimensions and time dimension.`,
        'query_semantic_model: every measure by the time dimension at week granularity over the last 8 weeks.',
        'Compare the last week with the week before and with the 4-week average; flag changes over 10%.',
        'For each flagged measure, query_semantic_model again grouped by each string dimension (plan, country, …) to find which segments moved.',
        'Summarize: a table of measures (last week, previous, change %), then 3–5 findings with their drivers.',
        'Offer to save the weekly query with create_insight and to pin it on a dashboard (create_dashboard); do so only if asked.',
      ]),
  },
  {
    name: 'investigate_metric_drop',
    title: 'Investigate a drop in a metric',
    description: 'Find when a metric dropped, which segments explain it, and whether tracking broke.',
    arguments: [
      {
        name: 'metric',
        description: 'model.measure, e.g. product_events.purchases.',
        required: true,
        pattern: METRIC,
        shape: 'model.measure',
      },
      { name: 'date', description: 'Day the drop was noticed, YYYY-MM-DD (default: the latest data).', pattern: DATE, shape: 'YYYY-MM-DD' },
    ],
    render: ({ metric = '', date }) => {
      const [model, measure] = metric.split('.');
      return (
        `Investigate a drop in the measure "${measure}" of the semantic model "${model}" around ${date ?? 'the latest day with data'}.\n\n` +
        steps([
          `search_memories and list_discoveries: known incidents, releases or tracking changes near that date.`,
          `get_semantic_model {"name":"${model}"}: the measure's definition and the dimensions to break it down by.`,
          `query_semantic_model: "${measure}" by day over the 28 days before; confirm the drop (size, first day, still ongoing?).`,
          'query_semantic_model: the same grouped by each string dimension; find the segments whose change explains most of the drop.',
          'list_events for the days before and after: did an event vanish or spike (a tracking break rather than a real change)?',
          'If needed, query_lakehouse (validate_sql first) for raw rows of the affected segment.',
          'Report: the drop (numbers), the segments behind it, tracking vs real change, and next checks. Record a confirmed finding with create_discovery.',
        ])
      );
    },
  },
  {
    name: 'funnel_analysis',
    title: 'Funnel analysis',
    description: 'Conversion through an ordered list of events: counts, step rates, time between steps, by segment.',
    arguments: [
      {
        name: 'steps',
        description: 'Event names in order, comma-separated, e.g. signup,onboarding_completed,purchase.',
        required: true,
        pattern: EVENT_LIST,
        shape: '2 to 10 comma-separated event names',
      },
      {
        name: 'window_days',
        description: 'Days a user has from the first step (default 14).',
        pattern: DAYS,
        shape: 'a whole number of days, 1–999',
      },
      { name: 'connection', description: 'Connection of the events table (default sample).', pattern: NAME, shape: 'a connection name' },
    ],
    render: ({ steps: list = '', window_days = '14', connection = 'sample' }) => {
      const events = list.split(',').map((e) => e.trim());
      return (
        `Analyse the funnel ${events.join(' → ')} on connection "${connection}", ${window_days} days from the first step.\n\n` +
        steps([
          `list_events {"connection":"${connection}"}: check that every step's event exists and is tracked over the period.`,
          `get_connection {"name":"${connection}","table":"events"}: the columns (user_id, event, occurred_at) and the period covered.`,
          `validate_sql then query_lakehouse (DuckDB SQL): per user, the first time of each step in order, each after the previous and within ${window_days} days of the first; count users reaching each step.`,
          'Report users per step, conversion from the previous step and overall, and the median time between steps.',
          'Break the funnel down by plan and by country (join users on user_id); point out the weakest step and segment.',
          'Offer to save the funnel query with create_insight (a bar chart); do so only if asked.',
        ])
      );
    },
  },
  {
    name: 'describe_table',
    title: 'Describe this table',
    description: 'Explain what a table holds: its columns, keys, value ranges, quality issues and how to query it.',
    arguments: [
      { name: 'table', description: 'The table, e.g. events.', required: true, pattern: TABLE, shape: 'a table name' },
      { name: 'connection', description: 'Its connection (default sample).', pattern: NAME, shape: 'a connection name' },
    ],
    render: ({ table = '', connection = 'sample' }) =>
      `Describe the table "${table}" of the connection "${connection}" (resource lakehouse://tables/${connection}/${table}).\n\n` +
      steps([
        `get_connection {"name":"${connection}","table":"${table}"}: columns, types, comments, row count and a profile (nulls, distinct values, min, max).`,
        `query_lakehouse: SELECT * FROM "${table}" LIMIT 10, to see real values.`,
        'list_semantic_models: is a model built on this table? If so, name its measures and dimensions.',
        'Write: what one row is (the grain), the likely keys and joins to other tables, what each column means, value ranges, quality issues (nulls, odd values), and two example queries.',
      ]),
  },
];

const byName = new Map(PROMPTS.map((p) => [p.name, p]));

export const findPrompt = (name: string) => byName.get(name);

/** prompts/list: the same for everyone. */
export const PROMPT_LIST = PROMPTS.map((p) => ({
  name: p.name,
  title: p.title,
  description: p.description,
  arguments: p.arguments.map((a) => ({ name: a.name, description: a.description, required: a.required === true })),
}));

/** prompts/get: the prompt's message, or -32602 for an unknown prompt or a missing or malformed argument. */
export function getPrompt(name: unknown, args: unknown) {
  const prompt = typeof name === 'string' ? byName.get(name) : undefined;
  if (!prompt)
    throw invalidParams(`Invalid params: no prompt named ${JSON.stringify(String(name)).slice(0, 100)}; prompts/list names them.`);
  if (args !== undefined && (typeof args !== 'object' || args === null || Array.isArray(args)))
    throw invalidParams('Invalid params: arguments must be an object of strings.');
  const given = (args ?? {}) as Record<string, unknown>;
  const known = new Set(prompt.arguments.map((a) => a.name));
  const unknown = Object.keys(given).find((key) => !known.has(key));
  if (unknown !== undefined)
    throw invalidParams(
      `Invalid params: ${prompt.name} has no argument ${JSON.stringify(unknown.slice(0, 100))}; it takes ${[...known].join(', ')}.`,
    );
  const values: Record<string, string | undefined> = {};
  for (const argument of prompt.arguments) {
    const value = given[argument.name];
    if (value === undefined || value === '') {
      if (argument.required) throw invalidParams(`Invalid params: argument ${argument.name} is required (${argument.shape}).`);
      continue;
    }
    if (typeof value !== 'string' || !argument.pattern.test(value))
      throw invalidParams(`Invalid params: argument ${argument.name} must be ${argument.shape}.`);
    values[argument.name] = value;
  }
  return {
    description: prompt.description,
    messages: [{ role: 'user', content: { type: 'text', text: prompt.render(values) } }],
  };
}
