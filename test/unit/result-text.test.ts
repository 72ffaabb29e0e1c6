import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resultText, TEXT_LIMIT_BYTES } from '../../src/mcp/result-text.js';

describe('result text: a compact rendering for the model', () => {
  it('renders a result set as CSV with the column types once, scalars first', () => {
    const text = resultText({
      columns: [
        { name: 'event', type: 'VARCHAR' },
        { name: 'n', type: 'BIGINT' },
        { name: 'props', type: 'JSON' },
      ],
      rows: [
        ['signup', 3, { plan: 'pro' }],
        ['a, "quoted" one', null, null],
        ['', 0, [1, 2]],
      ],
      row_count: 3,
      truncated: false,
      elapsed_ms: 4.2,
    });
    assert.equal(
      text,
      [
        'row_count: 3',
        'truncated: false',
        'elapsed_ms: 4.2',
        'rows (CSV, 3):',
        'event VARCHAR,n BIGINT,props JSON',
        'signup,3,"{""plan"":""pro""}"',
        '"a, ""quoted"" one",,',
        '"",0,"[1,2]"',
      ].join('\n'),
    );
  });

  it('says how to get more when the answer is truncated', () => {
    const text = resultText({
      columns: [{ name: 'x', type: 'INTEGER' }],
      rows: [[1]],
      row_count: 1,
      truncated: true,
      next_offset: 1,
      elapsed_ms: 1,
    });
    assert.match(text, /note: more rows exist than shown; continue with offset: 1/);
  });

  it('renders lists of records as CSV, nested objects indented and multi-line strings as blocks', () => {
    const text = resultText({
      items: [
        { id: 'a', title: 'First', version: 1 },
        { id: 'b', title: 'Second', version: 2, extra: true },
      ],
      insight: { title: 'T', sql: 'SELECT 1\nFROM t', parameters: [] },
    });
    assert.equal(
      text,
      [
        'items (CSV, 2):',
        'id,title,version,extra',
        'a,First,1,',
        'b,Second,2,true',
        'insight:',
        '  title: T',
        '  sql: |',
        '    SELECT 1',
        '    FROM t',
        '  parameters: []',
      ].join('\n'),
    );
  });

  it('is much smaller than the JSON for a wide result', () => {
    const columns = Array.from({ length: 8 }, (_, i) => ({ name: `column_${i}`, type: 'VARCHAR' }));
    const rows = Array.from({ length: 100 }, (_, r) => columns.map((_, c) => `value ${r}.${c}`));
    const output = { columns, rows, row_count: 100, truncated: false, elapsed_ms: 1 };
    assert.ok(resultText(output).length < JSON.stringify(output).length * 0.85);
  });

  it('stops at the text limit with whole lines and says what it left out', () => {
    const rows = Array.from({ length: 5000 }, (_, i) => [i, 'x'.repeat(40)]);
    const text = resultText({
      columns: [
        { name: 'i', type: 'INTEGER' },
        { name: 's', type: 'VARCHAR' },
      ],
      rows,
      row_count: 5000,
      truncated: false,
    });
    assert.ok(Buffer.byteLength(text) <= TEXT_LIMIT_BYTES, `${Buffer.byteLength(text)} bytes`);
    const note = /\[(\d+) more line\(s\) not shown: this text stops at 16 KiB\. The structured result has everything/.exec(text);
    assert.ok(note, text.slice(-400));
    const shown = text.split('\n').filter((line) => /^\d+,x+$/.test(line)).length;
    assert.equal(shown + Number(note[1]), 5000, 'every row is either shown or counted');
    assert.ok(text.startsWith('row_count: 5000\ntruncated: false\nrows (CSV, 5000):'));
  });

  it('keeps a long multi-byte value within the limit', () => {
    const text = resultText({ columns: [{ name: 's', type: 'VARCHAR' }], rows: [['é'.repeat(20_000)]] });
    assert.ok(Buffer.byteLength(text) <= TEXT_LIMIT_BYTES);
    assert.match(text, /1 more line\(s\) not shown/);
  });
});
