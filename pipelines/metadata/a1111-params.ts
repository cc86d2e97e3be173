// A1111's parameter line (`Steps: 20, Sampler: Euler a, Prompt: "a, b", …`) read in linear time.
//
// A1111 reads it with re_param, `\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)`, through finditer.
// A regex engine restarts that pattern at every character after a failed key, and re-scans an unclosed
// quote from every `"`, so a long line costs quadratic time (a 100k-character line took 9.4 s). This
// scanner returns exactly the matches the regex finds (a property test compares both) but skips a failed
// key's whole run at once and remembers where each quoted value ends.

/** Python's `\w` for str patterns: letters, digits, marks and the underscore. */
const WORD = /[\p{L}\p{N}\p{M}_]/u;
const SPACE = /\s/u;
/** What JavaScript's `.` does not match. */
const LINE_END = /[\n\r\u2028\u2029]/;

export interface ParamMatch {
  key: string;
  /** The raw value: a JSON-quoted string when it was written quoted. */
  value: string;
}

/** The whole character at `i` (two units for a surrogate pair); ASCII without allocating. */
function charAt(text: string, i: number): string {
  const unit = text.charCodeAt(i);
  if (unit < 0xd800 || unit > 0xdbff) return text[i];
  return String.fromCodePoint(text.codePointAt(i)!);
}

const isAsciiWord = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isWord = (ch: string) => (ch.length === 1 && ch.charCodeAt(0) < 128 ? isAsciiWord(ch.charCodeAt(0)) : WORD.test(ch));
const isKeyChar = (ch: string) => ch === ' ' || ch === '-' || ch === '/' || isWord(ch);

/** Every `Key: value` of a parameter line, in order, as A1111's re_param.finditer finds them. */
export function scanParams(line: string): ParamMatch[] {
  const found: ParamMatch[] = [];
  const quoteEnd = new QuoteEnds(line);
  let start = 0;
  while (start < line.length) {
    let i = start;
    while (i < line.length && SPACE.test(line[i])) i++;
    const keyStart = i;
    let keyChars = 0;
    if (i < line.length && isWord(charAt(line, i))) {
      while (i < line.length) {
        const ch = charAt(line, i);
        if (!isKeyChar(ch)) break;
        i += ch.length;
        keyChars++;
      }
    }
    if (keyChars < 2 || line[i] !== ':') {
      // Every start inside this run of spaces and key characters ends its key at `i` too, and fails there.
      start = Math.max(i, start + 1);
      continue;
    }
    const key = line.slice(keyStart, i);
    i++;
    while (i < line.length && SPACE.test(line[i])) i++;
    const valueStart = i;
    const closing = line[i] === '"' ? quoteEnd.after(i + 1) : -1;
    // The quoted form needs at least one character inside and a comma or the end right after the quote.
    if (closing > valueStart + 1 && (closing + 1 === line.length || line[closing + 1] === ',')) {
      i = closing + 1;
    } else {
      const comma = line.indexOf(',', valueStart);
      i = comma < 0 ? line.length : comma;
    }
    found.push({ key, value: line.slice(valueStart, i) });
    start = i < line.length ? i + 1 : i;
  }
  return found;
}

/**
 * Where `(?:\\.|[^\\"])+"` starting at a position ends (the index of its closing quote, or -1). Scans
 * from different starts that reach the same position go on identically from there, so each position's
 * answer is stored once and every character is scanned once over the whole line.
 */
class QuoteEnds {
  private readonly known = new Map<number, number>();
  constructor(private readonly text: string) {}

  after(from: number): number {
    const visited: number[] = [];
    let i = from;
    let end: number;
    for (;;) {
      const cached = this.known.get(i);
      if (cached !== undefined) {
        end = cached;
        break;
      }
      if (i >= this.text.length) {
        end = -1;
        break;
      }
      const ch = this.text[i];
      if (ch === '"') {
        end = i;
        break;
      }
      visited.push(i);
      if (ch === '\\') {
        // `\\.`: a backslash takes the next character unless it ends a line (`.` stops there).
        if (i + 1 >= this.text.length || LINE_END.test(this.text[i + 1])) {
          end = -1;
          break;
        }
        i += 1 + charAt(this.text, i + 1).length;
      } else i += 1;
    }
    for (const v of visited) this.known.set(v, end);
    return end;
  }
}
