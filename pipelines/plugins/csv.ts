// CSV as spreadsheets and Python's csv module write it: comma-separated, fields in double quotes may
// hold commas, newlines and "" for a quote; a UTF-8 byte-order mark is dropped. Spaces after a comma
// are skipped (Python's skipinitialspace, which A1111 reads styles.csv with).

export interface CsvRow {
  /** 1-based line of the file where the row starts. */
  line: number;
  cells: string[];
}

export class CsvError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CsvError';
  }
}

export function parseCsv(text: string, source: string): CsvRow[] {
  const s = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const rows: CsvRow[] = [];
  let line = 1;
  let i = 0;
  while (i < s.length) {
    const start = line;
    const cells: string[] = [];
    for (;;) {
      while (s[i] === ' ') i++;
      let cell = '';
      if (s[i] === '"') {
        i++;
        for (;;) {
          if (i >= s.length) throw new CsvError(`${source}:${start}: a quoted field is not closed (a " is missing)`);
          if (s[i] === '"') {
            if (s[i + 1] === '"') {
              cell += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (s[i] === '\n') line++;
          cell += s[i++];
        }
        // Text after the closing quote joins the field, as Python's reader does.
        while (i < s.length && s[i] !== ',' && s[i] !== '\n' && s[i] !== '\r') cell += s[i++];
      } else {
        while (i < s.length && s[i] !== ',' && s[i] !== '\n' && s[i] !== '\r') cell += s[i++];
      }
      cells.push(cell);
      if (s[i] === ',') {
        i++;
        continue;
      }
      if (s[i] === '\r') i++;
      if (s[i] === '\n') {
        i++;
        line++;
      }
      break;
    }
    if (!(cells.length === 1 && cells[0].trim() === '')) rows.push({ line: start, cells });
  }
  return rows;
}
