import fs from 'node:fs';

/** Bytes gathered before one write to the file. */
const FLUSH_BYTES = 1024 * 1024;

/**
 * A CSV file written row by row (RFC 4180: a header line, then one line per row; NULL an empty field, text
 * quoted when it holds a quote, comma or line break), synchronously in batches so that memory stays at one
 * batch however fast rows arrive. Stops taking rows once the file would pass `maxBytes` (`overflowed`).
 */
export class CsvFileWriter {
  private readonly fd: number;
  private pending: string[] = [];
  private pendingBytes = 0;
  private written = 0;
  private headed = false;
  rows = 0;
  overflowed = false;

  constructor(
    file: string,
    private readonly maxBytes: number,
  ) {
    this.fd = fs.openSync(file, 'w', 0o600);
  }

  /** The header line (once; later calls do nothing). */
  header(names: string[]): void {
    if (this.headed) return;
    this.headed = true;
    this.add(names.map(field).join(','));
  }

  /** One row; false once the cap is reached (the row was not written). */
  row(values: (string | null)[]): boolean {
    if (this.overflowed) return false;
    if (!this.add(values.map((v) => (v === null ? '' : field(v))).join(','))) return false;
    this.rows += 1;
    return true;
  }

  /** Writes what is pending and closes the file. */
  close(): void {
    try {
      this.flush();
    } finally {
      fs.closeSync(this.fd);
    }
  }

  private add(line: string): boolean {
    const bytes = Buffer.byteLength(line) + 1;
    if (this.written + this.pendingBytes + bytes > this.maxBytes) {
      this.overflowed = true;
      return false;
    }
    this.pending.push(line);
    this.pendingBytes += bytes;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
    return true;
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const chunk = Buffer.from(`${this.pending.join('\n')}\n`);
    fs.writeSync(this.fd, chunk);
    this.written += chunk.length;
    this.pending = [];
    this.pendingBytes = 0;
  }
}

function field(text: string): string {
  return /[",\r\n]/.test(text) || text === '' ? `"${text.replace(/"/g, '""')}"` : text;
}
