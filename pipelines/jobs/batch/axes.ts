// Sweep axes for a contact sheet: `--x cfg=3,5,7 --y seed=1,2,3` runs every row of the batch once per
// cell and lays the images out in a labelled grid.
export const AXIS_NAMES = ['seed', 'cfg', 'steps', 'sampler', 'heads', 'attention', 'preset'] as const;
export type AxisName = (typeof AXIS_NAMES)[number];

export interface Axis {
  /** `--x` or `--y`, for messages. */
  flag: '--x' | '--y';
  name: AxisName;
  values: string[];
}

const ALIASES: Record<string, AxisName> = { head: 'heads', 'head-preset': 'heads', scale: 'cfg', 'cfg-scale': 'cfg' };

export class AxisError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AxisError';
  }
}

/** `cfg=3,5,7` → {name: 'cfg', values: ['3', '5', '7']}. */
export function parseAxis(flag: '--x' | '--y', text: string): Axis {
  const m = /^\s*([A-Za-z-]+)\s*=(.*)$/.exec(text);
  if (!m) throw new AxisError(`${flag}: expected NAME=V1,V2,… such as cfg=3,5,7, got ${JSON.stringify(text)}`);
  const key = m[1].toLowerCase();
  const name = (AXIS_NAMES as readonly string[]).includes(key) ? (key as AxisName) : ALIASES[key];
  if (!name) throw new AxisError(`${flag}: cannot sweep "${m[1]}"; one of: ${AXIS_NAMES.join(', ')}`);
  const values = m[2].split(',').map((v) => v.trim());
  if (values.some((v) => v === '')) throw new AxisError(`${flag} ${name}: an empty value in ${JSON.stringify(m[2])}`);
  if (new Set(values).size !== values.length) throw new AxisError(`${flag} ${name}: a value is listed twice in ${JSON.stringify(m[2])}`);
  if (values.length > 64) throw new AxisError(`${flag} ${name}: at most 64 values`);
  return { flag, name, values };
}

/** The label shown on the sheet for one value. */
export function axisLabel(axis: Axis, value: string): string {
  return `${axis.name}=${value}`;
}
