// JSON as Python's json module writes it: bare NaN, Infinity and -Infinity are allowed
// (diffusers' scheduler configs contain `"lambda_min_clipped": -Infinity`).

const MARK = '\u0000py:';

export function parsePythonJson(text: string): unknown {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      out += ch;
      if (ch === '\\') out += text[++i] ?? '';
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') {
      inString = true;
      out += ch;
      continue;
    }
    const word = ['-Infinity', 'Infinity', 'NaN'].find((w) => text.startsWith(w, i));
    if (word) {
      out += JSON.stringify(MARK + word);
      i += word.length - 1;
      continue;
    }
    out += ch;
  }
  return JSON.parse(out, (_key, value) => {
    if (typeof value === 'string' && value.startsWith(MARK)) {
      const w = value.slice(MARK.length);
      return w === 'NaN' ? NaN : w === 'Infinity' ? Infinity : -Infinity;
    }
    return value;
  });
}
