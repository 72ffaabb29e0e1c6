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
