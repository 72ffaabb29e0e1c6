/**
 * Plain questions an agent asks search_docs, each with the pages that answer it (any one of them in the top
 * three counts). Worded as people ask, not as the pages are written; the last group is deliberately oblique.
 */
export const QUESTIONS: { q: string; pages: string[] }[] = [
  // From issue 16 and the brief.
  { q: 'how do I paginate a large result', pages: ['agents/paginate-results'] },
  { q: 'how do I download a large result', pages: ['agents/download-large-results'] },
  { q: 'export all rows of a query to a csv file', pages: ['agents/download-large-results', 'exports'] },
  { q: 'my query takes longer than the timeout, run it in the background', pages: ['agents/long-queries', 'jobs'] },
  { q: 'cancel a long running query job', pages: ['agents/long-queries', 'jobs'] },
  { q: 'funnel', pages: ['agents/funnels'] },
  { q: 'retention', pages: ['agents/retention'] },
  { q: 'what tables are there', pages: ['agents/data-model'] },
  { q: 'what is in the events table', pages: ['agents/data-model'] },
  { q: 'bot', pages: ['agents/data-model'] },
  // Analysis how-tos.
  { q: 'conversion rate from signup to purchase', pages: ['agents/funnels'] },
  { q: 'weekly cohort analysis by signup date', pages: ['agents/retention'] },
  { q: 'only events from the last 7 days', pages: ['agents/time-filters'] },
  { q: 'how do I read a field of the properties JSON column', pages: ['agents/json-properties'] },
  { q: 'join my own table with the sample data', pages: ['agents/joining-catalogs'] },
  { q: 'daily active users', pages: ['agents/retention'] },
  { q: 'count events per week', pages: ['agents/time-filters'] },
  { q: 'my query was refused for scanning too many rows', pages: ['agents/scan-budget', 'sql-sandbox'] },
  { q: 'scan_budget_exceeded', pages: ['agents/scan-budget', 'sql-sandbox', 'operations'] },
  { q: 'which columns does the users table have', pages: ['agents/data-model'] },
  { q: 'convert timestamps to my local time zone', pages: ['agents/time-filters'] },
  { q: 'revenue by plan from purchase amount', pages: ['agents/json-properties', 'agents/data-model'] },
  // Tools and the server.
  { q: 'save a query as a chart', pages: ['agents/which-tool', 'reference/tools', 'saved-assets'] },
  { q: 'why is my query slow, show the plan', pages: ['agents/which-tool', 'reference/tools'] },
  { q: 'check SQL for errors without running it', pages: ['agents/which-tool', 'reference/tools'] },
  { q: 'remember something for the next session', pages: ['agents/which-tool', 'saved-assets', 'reference/tools'] },
  { q: 'how do I connect Claude or Cursor', pages: ['connecting-clients'] },
  { q: 'verify a webhook signature', pages: ['webhooks'] },
  { q: 'what does sql_refused mean', pages: ['reference/errors', 'lakehouse', 'sql-sandbox'] },
  { q: 'load a CSV file into a table', pages: ['lakehouse'] },
  { q: 'metrics without writing SQL', pages: ['agents/which-tool', 'reference/tools'] },
  // Issue 17: SQL advice and one search over everything.
  { q: 'how can I make my query faster', pages: ['agents/slow-queries', 'sql-advice'] },
  { q: 'my query sorts too many rows and spills to disk', pages: ['agents/slow-queries', 'sql-advice'] },
  { q: 'find an insight about retention', pages: ['agents/find-anything'] },
  { q: 'search for a dashboard or a metric by name', pages: ['agents/find-anything'] },
  // Issue 17: scheduled tasks.
  { q: 'alert me when purchases drop below a threshold every morning', pages: ['agents/scheduled-tasks', 'tasks'] },
  { q: 'forecast signups for next week', pages: ['agents/scheduled-tasks', 'tasks'] },
  { q: 'how does anomaly detection work, what is sensitivity', pages: ['tasks', 'agents/scheduled-tasks'] },
  // Oblique wording.
  { q: 'my answer got cut off, how do I get the rest of the rows', pages: ['agents/paginate-results'] },
  { q: 'where do users drop off', pages: ['agents/funnels'] },
  { q: 'do people come back after they sign up', pages: ['agents/retention'] },
  { q: 'something weird happened on one day with lots of page views from one user', pages: ['agents/data-model'] },
  { q: 'checkout errors', pages: ['agents/data-model'] },
];

/** Written after the pages and before tuning the ranking: a check that it does not fit QUESTIONS alone. */
export const HELD_OUT: { q: string; pages: string[] }[] = [
  { q: 'how many rows can a query return at most', pages: ['agents/paginate-results', 'reference/tools', 'lakehouse'] },
  { q: 'what plans do users have', pages: ['agents/data-model'] },
  { q: 'week over week growth', pages: ['agents/time-filters', 'agents/data-model'] },
  { q: 'funnel by country', pages: ['agents/funnels'] },
  { q: 'list the event names', pages: ['agents/data-model', 'agents/which-tool', 'reference/tools'] },
  { q: 'churn', pages: ['agents/retention'] },
  { q: 'group by hour of day', pages: ['agents/time-filters'] },
  { q: 'parse json', pages: ['agents/json-properties'] },
  { q: 'join across a postgres connection and the lakehouse', pages: ['agents/joining-catalogs'] },
  { q: 'create a dashboard', pages: ['agents/which-tool', 'reference/tools', 'saved-assets'] },
  { q: 'send an alert to slack', pages: ['agents/which-tool', 'webhooks', 'saved-assets'] },
  { q: 'which device do sessions come from', pages: ['agents/data-model'] },
  { q: 'what is utm_source', pages: ['agents/data-model'] },
  {
    q: 'query timeout',
    pages: ['agents/paginate-results', 'agents/long-queries', 'jobs', 'lakehouse', 'sql-sandbox', 'reference/tools', 'reference/errors'],
  },
  { q: 'outage', pages: ['agents/data-model'] },
  { q: 'what tools can I call', pages: ['agents/which-tool', 'reference/tools'] },
  { q: 'page paths people visit', pages: ['agents/data-model', 'agents/json-properties'] },
  { q: 'how do I back up the server', pages: ['operations'] },
  { q: 'rate limits', pages: ['operations'] },
  { q: 'out of memory', pages: ['lakehouse', 'reference/errors', 'scaling'] },
];
