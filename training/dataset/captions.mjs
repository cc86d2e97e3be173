// Caption lists for the emoji data set. Training samples one caption per image uniformly from its
// list, so the share of each phrasing is set here by how often it appears.

// Same normalisation as the word tokenizer (training/emoji/text.py, ARCHITECTURE.md): accents
// stripped, lower case, anything outside [a-z0-9] becomes a word break.
export function cleanName(text) {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .trim();
}

export function uniqueNames(names) {
  const seen = new Set();
  const out = [];
  for (const n of names) {
    if (!n || seen.has(n)) continue;
    seen.add(n);
    out.push(n);
  }
  return out;
}

const MAX_PAIR_NAME_WORDS = 5;

export function captionsForSingle(cls, style, tone) {
  const withTone = (n) => (tone ? `${n} ${tone} skin tone` : n);
  const label = withTone(cls.label);
  const captions = [label, `a ${label}`, `${label}, ${style} style`, `a ${label} in ${style} style`];
  for (const n of cls.names.slice(1, 4)) captions.push(withTone(n), `${withTone(n)}, ${style} style`);
  if (cls.tags.length > 0) captions.push(`${cls.tags.slice(0, 5).join(' ')}, ${style} style`);
  return captions;
}

function pairName(cls) {
  const words = (n) => n.split(' ').length;
  if (words(cls.label) <= MAX_PAIR_NAME_WORDS) return cls.label;
  return [...cls.names].sort((a, b) => words(a) - words(b))[0];
}

export function captionsForPair(left, right, style) {
  const a = pairName(left);
  const b = pairName(right);
  return [
    `a ${a} and a ${b}`,
    `${a} and ${b}, ${style} style`,
    `${a} on the left and ${b} on the right`,
    `${a} on the left and ${b} on the right, ${style} style`,
    `a ${a} and a ${b} in ${style} style`,
  ];
}
