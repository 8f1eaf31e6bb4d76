/**
 * Columns as docker's CLI prints them (text/tabwriter with minimum width 10
 * and padding 3): every cell but the last is padded to its column's width.
 */
export function renderTable(rows: readonly (readonly string[])[], options: { minWidth?: number; padding?: number } = {}): string {
  const minWidth = options.minWidth ?? 10;
  const padding = options.padding ?? 3;
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, Math.max(cell.length + padding, minWidth));
    });
  }
  return rows
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('').replace(/ +$/, ''))
    .map((line) => `${line}\n`)
    .join('');
}
