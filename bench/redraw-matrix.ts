// Redraws a GPU matrix report (Markdown and chart) from its JSON: the GPU machine has no fonts, so the chart it
// draws has boxes for letters.   npx tsx bench/redraw-matrix.ts bench/results/DATE-gpu-matrix-….json
import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { writeReport, type Report } from './lib/matrix-report.ts';

const json = process.argv[2];
if (!json?.endsWith('.json')) throw new Error('usage: npx tsx bench/redraw-matrix.ts REPORT.json');
console.log((await writeReport(JSON.parse(readFileSync(json, 'utf8')) as Report, dirname(json), basename(json, '.json'))).join('\n'));
