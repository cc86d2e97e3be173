// Plugin presets: a complete plugin loads (inline styles, an A1111 styles.csv, sampler and head
// presets, a LinFusion ladder, pinned models); malformed and malicious plugins are rejected with
// errors that say what is wrong where (path traversal, links out, huge files, unknown fields, wrong
// versions, install scripts); nothing in a plugin is executed; discovery from the plugins folder and
// node_modules; the presets command; and `generate --preset` through the real CLI.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { UsageError } from '../app/cli/exit-codes.ts';
import { parseGenerateArgs } from '../app/cli/generate-args.ts';
import { presetsCommand } from '../app/cli/presets-command.ts';
import { fingerprintHash } from '../pipelines/heads/architecture.ts';
import { makeHeadPreset } from '../pipelines/heads/presets.ts';
import { readImageMetadata } from '../pipelines/metadata/index.ts';
import { applyStyle, discoverPlugins, loadPlugin, parseStylesCsv, PluginError, PresetRegistry } from '../pipelines/plugins/index.ts';
import { studio, writeFakeEngine } from './batch-helpers.ts';

const work = mkdtempSync(join(tmpdir(), 'studio-plugins-'));
after(() => rmSync(work, { recursive: true, force: true }));
const VERSION = '0.1.0';
const architecture = { family: 'sd1', heads: [8, 8], hash: fingerprintHash('sd1', [8, 8]) };
const headPreset = makeHeadPreset({ name: 'crisp', architecture, scale: 2.5, heads: [{ layer: 0, head: 3, u: 0.75 }] });

const STYLES_CSV =
  '\ufeffname,prompt,negative_prompt\n' +
  'Cinematic,"cinematic still of {prompt}, shallow depth of field","cartoon, (painting:1.2)"\n' +
  '# Disabled,ignored,ignored\n' +
  '"Two, lines","first line\nsecond line",\n' +
  'Plain suffix,"oil on canvas", \n';

function plugin(dir: string, manifest: unknown, files: Record<string, string> = {}): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'studio-plugin.json'), typeof manifest === 'string' ? manifest : JSON.stringify(manifest, null, 2));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const base = { name: 'cinema', version: '1.2.0', studio: '>=0.1.0 <1.0.0' };
let n = 0;
const fresh = () => join(work, 'cases', `p${n++}`);

/** The problems loadPlugin reports for this plugin (it must be rejected). */
function problems(dir: string): string {
  try {
    loadPlugin(dir, { studioVersion: VERSION });
  } catch (e) {
    assert.ok(e instanceof PluginError, (e as Error).message);
    return e.problems.join('\n');
  }
  assert.fail(`${dir} was accepted`);
}

describe('a complete plugin', () => {
  test('loads every kind of preset; styles apply A1111-style', () => {
    const dir = plugin(
      fresh(),
      {
        ...base,
        description: 'Film looks',
        styles: [{ name: 'noir', prompt: '{prompt}, film noir, high contrast', negative: 'color' }],
        styleFiles: ['styles/a1111.csv'],
        samplers: [{ name: 'noir', sampler: 'euler_a', steps: 12, cfg: 5.5 }],
        heads: [headPreset],
        recipes: [{ kind: 'hires-ladder', name: 'linfusion-2k', attention: 'linfusion', stages: [{ width: 512, height: 512, strength: 1, steps: 25 }, { width: 1024, height: 1024, strength: 0.6, steps: 20 }, { width: 2048, height: 2048, strength: 0.4, steps: 15 }] }],
        models: [{ name: 'sd15', file: 'v1-5-pruned-emaonly.safetensors', sha256: 'a'.repeat(64), family: 'sd1' }],
      },
      { 'styles/a1111.csv': STYLES_CSV },
    );
    const p = loadPlugin(dir, { studioVersion: VERSION });
    assert.deepEqual(p.styles.map((s) => s.name), ['noir', 'Cinematic', 'Two, lines', 'Plain suffix']);
    assert.equal(p.styles[2].prompt, 'first line\nsecond line');
    assert.deepEqual([p.samplers.length, p.heads.length, p.recipes.length, p.models.length], [1, 1, 1, 1]);
    assert.deepEqual(applyStyle(p.styles[1], 'a fox', 'blurry'), { prompt: 'cinematic still of a fox, shallow depth of field', negative: 'blurry, cartoon, (painting:1.2)' });
    assert.deepEqual(applyStyle(p.styles[3], 'a fox', ''), { prompt: 'a fox, oil on canvas', negative: '' });

    const registry = new PresetRegistry({ pluginsDir: work, plugins: [p], rejected: [] });
    assert.deepEqual(registry.resolve('noir', ['style', 'sampler']).map((r) => r.qualified), ['cinema/noir', 'cinema/noir']);
    assert.throws(() => registry.resolve('crisp', ['style', 'sampler']), /"crisp" is a head preset \(from cinema\), not a style preset or sampler preset/);
    assert.throws(() => registry.resolve('nope', ['style']), /no style preset named "nope"; known: cinema\/noir, cinema\/Cinematic/);
  });

  test('A1111 styles.csv: legacy name,text header, comments, repeated names (the last wins, with a warning)', () => {
    const read = parseStylesCsv('name,text\nA,one\n#B,two\nA,three\n', 'old.csv');
    assert.deepEqual(read.styles, [{ name: 'A', prompt: 'three', negative: '' }]);
    assert.match(read.warnings[0], /old\.csv:4: style "A" is given again/);
    assert.throws(() => parseStylesCsv('title,body\nA,b\n', 'bad.csv'), /bad\.csv:1: the header must be "name,prompt,negative_prompt"/);
  });
});

describe('malformed and malicious plugins are rejected, saying what is wrong where', () => {
  const outside = join(work, 'outside.csv');
  writeFileSync(outside, 'name,prompt\nstolen,secret\n');

  test('path traversal and absolute paths in file references', () => {
    const dir = plugin(fresh(), { ...base, styleFiles: ['../../outside.csv', '/etc/passwd', 'C:/x.csv', 'a\\..\\b.csv', 'missing.csv', 'notes.txt'] }, { 'notes.txt': 'x' });
    const p = problems(dir);
    assert.match(p, /styleFiles\[0\]: "\.\.\/\.\.\/outside\.csv" goes up out of the plugin folder/);
    assert.match(p, /styleFiles\[1\]: "\/etc\/passwd" is an absolute path/);
    assert.match(p, /styleFiles\[2\]: "C:\/x\.csv" is an absolute path/);
    assert.match(p, /styleFiles\[3\]: "a\\\.\.\\b\.csv" uses "\\"/);
    assert.match(p, /styleFiles\[4\]: "missing\.csv" does not exist in the plugin/);
    assert.match(p, /styleFiles\[5\]: "notes\.txt" must be a \.csv/);
  });

  test('links out of the plugin, referenced or not', () => {
    const dir = plugin(fresh(), { ...base, styleFiles: ['styles.csv'] });
    symlinkSync(outside, join(dir, 'styles.csv'));
    symlinkSync('/etc', join(dir, 'system'));
    symlinkSync(join(dir, 'nowhere'), join(dir, 'dangling'));
    const p = problems(dir);
    assert.match(p, /styles\.csv: links out of the plugin \(to .*outside\.csv\)/);
    assert.match(p, /system: links out of the plugin \(to \/etc\)/);
    assert.match(p, /dangling: a link to something that does not exist/);
    assert.match(p, /styleFiles\[0\]: "styles\.csv" leads out of the plugin/);
    // A link that stays inside is fine.
    const ok = plugin(fresh(), { ...base, styleFiles: ['link.csv'] }, { 'real/styles.csv': STYLES_CSV });
    symlinkSync(join(ok, 'real', 'styles.csv'), join(ok, 'link.csv'));
    assert.equal(loadPlugin(ok, { studioVersion: VERSION }).styles.length, 3);
  });

  test('huge files: any file over the cap, a huge manifest, a huge style file', () => {
    const dir = plugin(fresh(), { ...base });
    writeFileSync(join(dir, 'weights.bin'), '');
    truncateSync(join(dir, 'weights.bin'), 17 * 1024 * 1024); // sparse: no real disk use
    assert.match(problems(dir), /weights\.bin: 17\.0 MiB is too large \(at most 16\.0 MiB per file in a plugin\)/);

    const big = plugin(fresh(), `{"name":"cinema","version":"1.0.0","studio":"*","description":"${'x'.repeat(300 * 1024)}"}`);
    assert.match(problems(big), /studio-plugin\.json: 301 KiB is too large \(at most 256 KiB\)/);

    const csv = plugin(fresh(), { ...base, styleFiles: ['s.csv'] }, { 's.csv': `name,prompt\nA,${'y'.repeat(5 * 1024 * 1024)}\n` });
    assert.match(problems(csv), /s\.csv: 5\.0 MiB is too large \(at most 4\.0 MiB\)/);
  });

  test('unknown fields, anywhere, with a hint for near misses', () => {
    const dir = plugin(fresh(), {
      ...base,
      main: 'index.js',
      styles: [{ name: 'a', prompt: 'p', negativ: 'n' }],
      recipes: [{ kind: 'hires-ladder', name: 'r', stages: [{ width: 512, height: 512, strength: 1, steps: 20, denoise: 1 }] }],
    });
    const p = problems(dir);
    assert.match(p, /studio-plugin\.json: unknown field "main"/);
    assert.match(p, /studio-plugin\.json: styles\[0\]: unknown field "negativ" \(did you mean "negative"\?\)/);
    assert.match(p, /studio-plugin\.json: recipes\[0\]\.stages\[0\]: unknown field "denoise"/);
  });

  test('wrong versions: studio range, plugin version, head preset version', () => {
    assert.match(problems(plugin(fresh(), { ...base, studio: '>=2.0.0' })), /studio: the plugin works with studio ">=2\.0\.0", but this is studio 0\.1\.0/);
    assert.match(problems(plugin(fresh(), { ...base, version: '1.0' })), /studio-plugin\.json: version: must be a version like 1\.0\.0 \(got "1\.0"\)/);
    assert.match(problems(plugin(fresh(), { ...base, studio: 'soon' })), /studio: must be a version range/);
    assert.match(problems(plugin(fresh(), { ...base, heads: [{ ...headPreset, version: 2 }] })), /heads\[0\]\.version: must be 1/);
    const pkg = plugin(fresh(), base, { 'package.json': JSON.stringify({ name: 'cinema', version: '1.1.0' }) });
    assert.match(problems(pkg), /package\.json: version "1\.1\.0" differs from studio-plugin\.json's version "1\.2\.0"/);
  });

  test('bad values, bad JSON, missing manifest, install scripts', () => {
    const p = problems(
      plugin(fresh(), {
        ...base,
        name: 'Cinema Pack',
        samplers: [{ name: 'fast', sampler: 'warp_speed' }, { name: 'empty' }],
        models: [{ name: 'm', file: '../m.safetensors', sha256: 'ABC' }],
        recipes: [{ kind: 'hires-ladder', name: 'down', stages: [{ width: 1024, height: 1024, strength: 1, steps: 20 }, { width: 512, height: 512, strength: 0.5, steps: 10 }] }],
        styles: [{ name: 'a/b', prompt: 'x' }, { name: 'dup', prompt: 'x' }, { name: 'dup', prompt: 'y' }],
      }),
    );
    assert.match(p, /name: must be lowercase letters/);
    assert.match(p, /samplers\[0\]\.sampler: must be one of: .*\(got "warp_speed"\)/);
    assert.match(p, /samplers\[1\]: sets nothing/);
    assert.match(p, /models\[0\]\.file: must be a file name without folders/);
    assert.match(p, /models\[0\]\.sha256: must be the SHA-256 of the file/);
    assert.match(p, /recipes\[0\]\.stages\[1\]: is smaller than stage 0/);
    assert.match(p, /styles\[0\]\.name: must not contain "\/"/);
    assert.match(problems(plugin(fresh(), { ...base, styles: [{ name: 'dup', prompt: 'x' }, { name: 'dup', prompt: 'y' }] })), /styles: the name "dup" is used twice \(entries 0 and 1\)/);
    assert.match(problems(plugin(fresh(), '{"name": "cinema",')), /studio-plugin\.json: not valid JSON/);
    const none = fresh();
    mkdirSync(none, { recursive: true });
    assert.match(problems(none), /no studio-plugin\.json in the folder/);
    const scripts = plugin(fresh(), base, { 'package.json': JSON.stringify({ name: 'cinema', version: '1.2.0', scripts: { postinstall: 'node steal.js', test: 'x' } }) });
    assert.match(problems(scripts), /package\.json: scripts: has install scripts \(postinstall\)/);
  });
});

describe('discovery', () => {
  test('plugins folder and node_modules packages; broken ones reported; nothing executed', () => {
    const root = join(work, 'discovery');
    const pluginsDir = join(root, 'plugins');
    const marker = join(root, 'EXECUTED');
    const code = `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'ran'); export default 1;`;
    plugin(join(pluginsDir, 'cinema'), { ...base, styles: [{ name: 'noir', prompt: '{prompt}, noir' }] }, { 'index.js': code, 'index.mjs': code });
    plugin(join(pluginsDir, 'broken'), { ...base, name: 'broken', studio: '>=9.0.0' });
    mkdirSync(join(pluginsDir, 'just-a-folder'));
    const nm = join(root, 'node_modules');
    plugin(join(nm, '@someone', 'studio-looks'), { name: '@someone/studio-looks', version: '2.0.0', studio: '^0.1.0', samplers: [{ name: 'quick', steps: 8 }] }, {
      'package.json': JSON.stringify({ name: '@someone/studio-looks', version: '2.0.0', keywords: ['studio-plugin'], main: 'index.js' }),
      'index.js': code,
    });
    plugin(join(nm, 'other-lib'), { ...base, name: 'other-lib' }, { 'package.json': JSON.stringify({ name: 'other-lib', version: '1.2.0' }) });
    plugin(join(nm, 'cinema-copy'), { ...base }, { 'package.json': JSON.stringify({ name: 'cinema', version: '1.2.0', 'studio-plugin': true }) });

    const d = discoverPlugins({ studioVersion: VERSION, pluginsDir, nodeModules: [nm] });
    assert.deepEqual(d.plugins.map((p) => `${p.name}@${p.version} ${p.source}`), ['cinema@1.2.0 folder', '@someone/studio-looks@2.0.0 package']);
    const rejected = d.rejected.map((r) => r.message).join('\n');
    assert.match(rejected, /broken[\s\S]*works with studio ">=9\.0\.0"/);
    assert.match(rejected, /just-a-folder[\s\S]*no studio-plugin\.json in this folder/);
    assert.match(rejected, /a plugin named "cinema" is already loaded from/);
    assert.doesNotMatch(rejected, /other-lib/, 'packages without the keyword are not plugins');
    assert.equal(new PresetRegistry(d).resolve('quick', ['sampler'])[0].qualified, '@someone/studio-looks/quick');
    assert.equal(existsSync(marker), false, 'plugin code was executed');
  });
});

/** Runs a presets subcommand in-process, capturing what it prints. */
async function presets(args: string[]): Promise<{ code: number; out: string }> {
  const write = process.stdout.write;
  let out = '';
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    return { code: await presetsCommand(args), out };
  } finally {
    process.stdout.write = write;
  }
}

describe('studio presets and --preset', () => {
  const pluginsDir = join(work, 'user-plugins');

  test('import-styles, list, show, validate', async () => {
    const csv = join(work, 'My Styles.csv');
    writeFileSync(csv, STYLES_CSV);
    const imported = await presets(['import-styles', csv, '--plugins-dir', pluginsDir]);
    assert.equal(imported.code, 0);
    assert.match(imported.out, /Imported 3 styles into .*my-styles/);
    await assert.rejects(presets(['import-styles', csv, '--plugins-dir', pluginsDir]), /already exists; choose another --name, or add --force/);
    plugin(join(pluginsDir, 'fast'), { name: 'fast', version: '1.0.0', studio: '>=0.1.0', samplers: [{ name: 'Cinematic', sampler: 'euler', steps: 7, cfg: 4 }] });
    plugin(join(pluginsDir, 'bad'), { name: 'bad', version: '1.0.0', studio: '>=0.1.0', styles: [{ name: 'x', prompt: 'y', weight: 2 }] });

    const list = JSON.parse((await presets(['list', '--json', '--plugins-dir', pluginsDir])).out);
    assert.deepEqual(list.plugins.map((p: { name: string }) => p.name), ['fast', 'my-styles']);
    assert.match(list.rejected[0].problems[0], /styles\[0\]: unknown field "weight"/);
    const shown = JSON.parse((await presets(['show', 'my-styles/Cinematic', '--json', '--plugins-dir', pluginsDir])).out);
    assert.equal(shown[0].preset.negative, 'cartoon, (painting:1.2)');

    const v = await presets(['validate', join(pluginsDir, 'bad'), join(pluginsDir, 'my-styles', 'studio-plugin.json')]);
    assert.equal(v.code, 1);
    assert.match(v.out, /invalid .*bad\n {2}studio-plugin\.json: styles\[0\]: unknown field "weight"/);
    assert.match(v.out, /ok .*my-styles.*\(my-styles 1\.0\.0: 3 styles\)/);
  });

  test('--preset: ambiguous names are refused; a style and a sampler preset of one name both apply (real CLI)', async () => {
    process.env.STUDIO_PLUGINS_DIR = pluginsDir;
    await assert.rejects(parseGenerateArgs(['--prompt', 'a fox', '--preset', 'Cinematic']), (e: Error) => e instanceof UsageError && /--preset: preset "Cinematic" is in several plugins; name one of: "fast\/Cinematic", "my-styles\/Cinematic"/.test(e.message));
    const styled = await parseGenerateArgs(['--prompt', 'a fox', '--preset', 'my-styles/Cinematic', '--seed', '1']);
    assert.ok(!styled.help);
    assert.equal(styled.request.prompt, 'cinematic still of a fox, shallow depth of field');
    await assert.rejects(parseGenerateArgs(['--prompt', 'a fox', '--preset', 'nope']), /--preset: no style preset or sampler preset named "nope"/);

    plugin(join(pluginsDir, 'looks'), { name: 'looks', version: '1.0.0', studio: '>=0.1.0', styles: [{ name: 'look', prompt: 'moody photo of {prompt}', negative: 'cartoon' }], samplers: [{ name: 'look', sampler: 'euler', steps: 7, cfg: 4 }] });
    const engine = writeFakeEngine(work);
    const r = await studio(['generate', '--prompt', 'a fox', '--negative', 'blurry', '--preset', 'look', '--cfg', '6', '--seed', '3', '--out', 'styled.png'], {
      cwd: work,
      env: { STUDIO_TEST_ENGINE: engine, STUDIO_PLUGINS_DIR: pluginsDir },
    });
    assert.equal(r.code, 0, r.stderr);
    const request = readImageMetadata(readFileSync(join(work, 'styled.png')), 'styled.png').studio!.request;
    assert.equal(request.prompt, 'moody photo of a fox');
    assert.equal(request.negative, 'blurry, cartoon');
    assert.deepEqual([request.sampler, request.steps, request.cfg], ['euler', 7, 6], 'the sampler preset fills in; --cfg given on the command line wins');
  });
});
