// Versions (MAJOR.MINOR.PATCH[-pre]) and the part of npm's range syntax plugins need to say which
// studio versions they work with: comparators (<, <=, >, >=, =), ^ and ~, x-ranges (1.x, 1.2.*),
// hyphen ranges (1.0.0 - 1.4.0), space for "and", || for "or".

export interface Version {
  major: number;
  minor: number;
  patch: number;
  pre: string[];
}

const VERSION = /^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

export function parseVersion(text: string): Version | undefined {
  const m = VERSION.exec(text.trim());
  if (!m) return undefined;
  const n = [m[1], m[2], m[3]].map(Number);
  if (n.some((x) => !Number.isSafeInteger(x))) return undefined;
  return { major: n[0], minor: n[1], patch: n[2], pre: m[4] ? m[4].split('.') : [] };
}

function comparePre(a: string[], b: string[]): number {
  if (!a.length || !b.length) return b.length - a.length; // a release sorts after its pre-releases
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] === undefined) return -1;
    if (b[i] === undefined) return 1;
    const na = /^\d+$/.test(a[i]) ? Number(a[i]) : undefined;
    const nb = /^\d+$/.test(b[i]) ? Number(b[i]) : undefined;
    if (na !== undefined && nb !== undefined) {
      if (na !== nb) return na - nb;
    } else if (na !== undefined || nb !== undefined) {
      return na !== undefined ? -1 : 1;
    } else if (a[i] !== b[i]) {
      return a[i] < b[i] ? -1 : 1;
    }
  }
  return 0;
}

export function compareVersions(a: Version, b: Version): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch || comparePre(a.pre, b.pre);
}

type Op = '<' | '<=' | '>' | '>=' | '=';
interface Comparator {
  op: Op;
  v: Version;
}

/** A partial version: `1`, `1.2`, `1.2.3`, with x / X / * for missing parts (undefined). */
interface Partial {
  major?: number;
  minor?: number;
  patch?: number;
  pre: string[];
}

const PARTIAL = /^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

function parsePartial(text: string): Partial | undefined {
  const m = PARTIAL.exec(text);
  if (!m) return undefined;
  const num = (s: string | undefined) => (s === undefined || /^[xX*]$/.test(s) ? undefined : Number(s));
  const p: Partial = { major: num(m[1]), minor: num(m[2]), patch: num(m[3]), pre: m[4] ? m[4].split('.') : [] };
  if (p.major === undefined) return { pre: [] };
  if (p.minor === undefined) return { major: p.major, pre: [] };
  return p;
}

const v = (major: number, minor: number, patch: number, pre: string[] = []): Version => ({ major, minor, patch, pre });
/** The lowest pre-release of a version: `< v0` excludes v's pre-releases too, as npm does. */
const v0 = (major: number, minor: number, patch: number): Version => v(major, minor, patch, ['0']);

function floor(p: Partial): Version {
  return v(p.major ?? 0, p.minor ?? 0, p.patch ?? 0, p.pre);
}

/** The first version above everything the partial matches (undefined for `*`). */
function ceiling(p: Partial): Version | undefined {
  if (p.major === undefined) return undefined;
  if (p.minor === undefined) return v0(p.major + 1, 0, 0);
  if (p.patch === undefined) return v0(p.major, p.minor + 1, 0);
  return undefined;
}

function expand(token: string): Comparator[] | undefined {
  const m = /^(<=|>=|<|>|=|\^|~>?)?(.*)$/.exec(token)!;
  const op = m[1] ?? '';
  const p = parsePartial(m[2]);
  if (!p) return undefined;
  const lo = floor(p);
  const hi = ceiling(p);
  switch (op) {
    case '':
    case '=':
      if (p.major === undefined) return [];
      return hi ? [{ op: '>=', v: lo }, { op: '<', v: hi }] : [{ op: '=', v: lo }];
    case '>=':
      return [{ op: '>=', v: lo }];
    case '<':
      return [{ op: '<', v: hi ? v0(lo.major, lo.minor, lo.patch) : lo }];
    case '>':
      return hi ? [{ op: '>=', v: hi }] : [{ op: '>', v: lo }];
    case '<=':
      return hi ? [{ op: '<', v: hi }] : [{ op: '<=', v: lo }];
    case '~':
    case '~>':
      if (p.major === undefined) return [];
      return [{ op: '>=', v: lo }, { op: '<', v: p.minor === undefined ? v0(lo.major + 1, 0, 0) : v0(lo.major, lo.minor + 1, 0) }];
    case '^': {
      if (p.major === undefined) return [];
      let top: Version;
      if (lo.major > 0 || p.minor === undefined) top = v0(lo.major + 1, 0, 0);
      else if (lo.minor > 0 || p.patch === undefined) top = v0(0, lo.minor + 1, 0);
      else top = v0(0, 0, lo.patch + 1);
      return [{ op: '>=', v: lo }, { op: '<', v: top }];
    }
  }
  return undefined;
}

function test(c: Comparator, version: Version): boolean {
  const d = compareVersions(version, c.v);
  return c.op === '<' ? d < 0 : c.op === '<=' ? d <= 0 : c.op === '>' ? d > 0 : c.op === '>=' ? d >= 0 : d === 0;
}

/** Parses a range into alternatives of comparators; undefined when the text is not a range. */
export function parseRange(text: string): Comparator[][] | undefined {
  const sets: Comparator[][] = [];
  for (const alt of text.split('||')) {
    const hyphen = /^\s*(\S+)\s+-\s+(\S+)\s*$/.exec(alt);
    const tokens = hyphen ? [`>=${hyphen[1]}`, `<=${hyphen[2]}`] : alt.trim().replace(/(<=|>=|<|>|=|\^|~>?)\s+/g, '$1').split(/\s+/).filter(Boolean);
    const set: Comparator[] = [];
    for (const token of tokens.length ? tokens : ['*']) {
      const cs = expand(token);
      if (!cs) return undefined;
      set.push(...cs);
    }
    sets.push(set);
  }
  return sets;
}

export function satisfies(version: Version, range: Comparator[][]): boolean {
  return range.some((set) => set.every((c) => test(c, version)));
}
