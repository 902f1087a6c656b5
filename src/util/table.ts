/** Plain-text output helpers shared by the CLI's tables and the doctor's report. */

/** Human-readable size: whole MB, "-" for nothing measured. */
export function mb(bytes: number | null | undefined): string {
  return bytes ? `${(bytes / 1024 / 1024).toFixed(0)} MB` : '-';
}

/** Columns padded to their widest cell (the last column is not padded); rows[0] is the header. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n') + '\n';
}
