// A PostgreSQL JSON plan in a few words: what the top node does, what it reads, what it costs.

interface PlanNode {
  'Node Type'?: string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Total Cost'?: number;
  'Plan Rows'?: number;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  Plans?: PlanNode[];
}

const number = (n: number) => Math.round(n).toLocaleString('en-US');

function* nodes(node: PlanNode): Generator<PlanNode> {
  yield node;
  for (const child of node.Plans ?? []) yield* nodes(child);
}

export function summarizePlan(explained: Record<string, unknown>, analyzed: boolean): string {
  const root = explained.Plan as PlanNode | undefined;
  if (!root) return 'No plan.';
  const parts: string[] = [];
  parts.push(
    `${root['Node Type'] ?? 'Plan'} estimated at ${number(root['Plan Rows'] ?? 0)} rows, cost ${number(root['Total Cost'] ?? 0)}.`,
  );
  const reads = [...nodes(root)]
    .filter((n) => n['Relation Name'])
    .map(
      (n) =>
        `${n['Node Type']} on ${n['Relation Name']}${n['Index Name'] ? ` using ${n['Index Name']}` : ''} (~${number(n['Plan Rows'] ?? 0)} rows)`,
    );
  if (reads.length > 0) parts.push(`Reads: ${reads.join('; ')}.`);
  const seq = [...nodes(root)].filter((n) => n['Node Type'] === 'Seq Scan' && (n['Plan Rows'] ?? 0) > 100_000);
  if (seq.length > 0)
    parts.push(
      `Scans ${seq.map((n) => n['Relation Name']).join(', ')} in full: a filter on an indexed column (such as occurred_at) would read less.`,
    );
  if (analyzed) {
    const time = explained['Execution Time'];
    const planning = explained['Planning Time'];
    parts.push(
      `Ran in ${typeof time === 'number' ? time.toFixed(1) : '?'} ms (planning ${typeof planning === 'number' ? planning.toFixed(1) : '?'} ms), returning ${number((root['Actual Rows'] ?? 0) * (root['Actual Loops'] ?? 1))} rows.`,
    );
  } else {
    parts.push('Not executed (pass analyze: true to run it and see actual times).');
  }
  return parts.join(' ');
}

// A DuckDB JSON plan (EXPLAIN (FORMAT json): operators with their estimated cardinality; with ANALYZE, the
// profile: operators with actual rows and times) in the same few words.

interface DuckOperator {
  name?: string;
  operator_type?: string;
  operator_cardinality?: number;
  extra_info?: Record<string, unknown>;
  children?: DuckOperator[];
}

function* duckNodes(node: DuckOperator): Generator<DuckOperator> {
  yield node;
  for (const child of node.children ?? []) yield* duckNodes(child);
}

const estimate = (node: DuckOperator) => Number(node.extra_info?.['Estimated Cardinality'] ?? NaN);

export function summarizeDuckPlan(plan: { operators?: DuckOperator[]; profile?: Record<string, unknown> & DuckOperator }): string {
  const analyzed = plan.profile !== undefined;
  const roots = analyzed ? (plan.profile?.children ?? []) : (plan.operators ?? []);
  // EXPLAIN ANALYZE's own operator sits on top of the statement's.
  const root = roots[0]?.operator_type === 'EXPLAIN_ANALYZE' ? roots[0].children?.[0] : roots[0];
  if (!root) return 'No plan.';
  const name = (n: DuckOperator) => (n.name ?? n.operator_type ?? 'operator').trim();
  const parts: string[] = [];
  const top = estimate(root);
  parts.push(`${name(root)}${Number.isFinite(top) ? ` estimated at ${number(top)} rows` : ''}.`);
  const scans = [...duckNodes(root)].filter((n) => /SCAN|READ_/.test(name(n)));
  if (scans.length > 0) {
    const reads = scans.map((n) => {
      const info = n.extra_info ?? {};
      // DuckDB writes these as text (JSON), or as a list of lines.
      const text = (value: unknown) => (Array.isArray(value) ? value.join(' ') : typeof value === 'string' ? value : JSON.stringify(value));
      const table = info.Table ? ` of ${text(info.Table)}` : '';
      const rows = analyzed ? n.operator_cardinality : estimate(n);
      const details = [
        ...(typeof rows === 'number' && Number.isFinite(rows) ? [`~${number(rows)} rows`] : []),
        ...(info.Filters ? [`filtered on ${text(info.Filters).replace(/\s+/g, ' ').slice(0, 200)}`] : []),
      ];
      return `${name(n)}${table}${details.length ? ` (${details.join(', ')})` : ''}`;
    });
    parts.push(`Reads: ${reads.join('; ')}.`);
    const unfiltered = scans.filter((n) => !n.extra_info?.Filters && (analyzed ? (n.operator_cardinality ?? 0) : estimate(n)) > 1_000_000);
    if (unfiltered.length > 0) parts.push('A scan reads every row: a filter on a time column (such as occurred_at) would read less.');
  }
  if (analyzed) {
    const latency = Number(plan.profile?.latency ?? NaN);
    const scanned = Number(plan.profile?.cumulative_rows_scanned ?? NaN);
    parts.push(
      `Ran in ${Number.isFinite(latency) ? (latency * 1000).toFixed(1) : '?'} ms, scanning ${Number.isFinite(scanned) ? number(scanned) : '?'} rows and returning ${number(root.operator_cardinality ?? 0)}.`,
    );
  } else {
    parts.push('Not executed (pass analyze: true to run it and see actual times).');
  }
  return parts.join(' ');
}
