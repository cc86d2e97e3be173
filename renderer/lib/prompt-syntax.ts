// Splits a prompt into spans for syntax highlighting, following A1111's emphasis grammar:
// `(text)` ×1.1, `[text]` ÷1.1, `(text:1.3)` explicit weight, `\(` literal, `BREAK`, `AND`, and
// `<lora:name:0.8>` style extra networks. Every character lands in exactly one span, so the spans
// concatenated give back the prompt (the highlight layer lines up with the textarea).

export type SpanKind = 'text' | 'open' | 'close' | 'weight' | 'escape' | 'keyword' | 'extra' | 'unbalanced';

export interface Span {
  kind: SpanKind;
  text: string;
  /** Nesting depth of the emphasis around this span (1 inside one pair of brackets). */
  depth: number;
}

const TOKEN = /\\[()[\]\\]|\\|\(|\[|:\s*[+-]?[.\d]+\s*\)|\)|\]|<[^<>\s]+:[^<>]*>|\bBREAK\b|\bAND\b|[^\\()[\]:<BA]+|./gsu;

export function highlightPrompt(prompt: string): Span[] {
  const spans: Span[] = [];
  const stack: ('(' | '[')[] = [];
  const push = (kind: SpanKind, text: string, depth = stack.length) => {
    const last = spans[spans.length - 1];
    if (last && last.kind === kind && last.depth === depth && (kind === 'text' || kind === 'unbalanced')) last.text += text;
    else spans.push({ kind, text, depth });
  };
  for (const [t] of prompt.matchAll(TOKEN)) {
    if (t.startsWith('\\') && t.length === 2) push('escape', t);
    else if (t === '(' || t === '[') {
      stack.push(t);
      push('open', t);
    } else if (t.startsWith(':') && t.endsWith(')') && stack[stack.length - 1] === '(') {
      const colon = t.lastIndexOf(')');
      push('weight', t.slice(0, colon));
      push('close', ')');
      stack.pop();
    } else if (t === ')' || t === ']' || (t.startsWith(':') && t.endsWith(')'))) {
      const wanted = t.endsWith(')') ? '(' : '[';
      if (stack[stack.length - 1] === wanted) {
        push('close', t);
        stack.pop();
      } else push('unbalanced', t);
    } else if (t === 'BREAK' || t === 'AND') push('keyword', t);
    else if (t.startsWith('<') && t.length > 2) push('extra', t);
    else push('text', t);
  }
  return spans;
}

/** Brackets left open at the end, for a hint under the field. */
export function unclosedBrackets(prompt: string): number {
  let open = 0;
  for (const s of highlightPrompt(prompt)) {
    if (s.kind === 'open') open++;
    else if (s.kind === 'close') open--;
  }
  return open;
}
