// The layer rules of docs/architecture.md, checked by `npm run check:layers` (and so by .ci/run).
// Type-only imports count: a layer that names another's types depends on it.

/** What the renderer may load: the jobs API and the data-only modules that API is built from. */
const RENDERER_MAY_REACH = ['^pipelines/jobs/api[^/]*[.]ts$', '^pipelines/attention/options[.]ts$', '^pipelines/samplers/names[.]ts$'];

/** How app/ reaches the engine: the jobs, and the data-only modules beside them. */
const APP_MAY_IMPORT = ['^pipelines/(jobs|metadata|plugins|queue|host)/'];

module.exports = {
  forbidden: [
    {
      name: 'renderer-only-jobs-api',
      comment:
        'renderer/ loads only the jobs API (pipelines/jobs/api*.ts) and the data-only modules it is built from; ' +
        'anything else of pipelines/ or app/ would ship engine code (samplers, graphs) in the UI bundle. ' +
        'Export what the UI needs from pipelines/jobs/api*.ts instead.',
      severity: 'error',
      from: { path: '^renderer/' },
      to: { path: '^(pipelines|app)/', pathNot: RENDERER_MAY_REACH, reachable: true },
    },
    {
      name: 'renderer-no-node-builtins',
      comment: 'renderer/ runs in the browser: Node built-in modules are not there.',
      severity: 'error',
      from: { path: '^renderer/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'app-through-jobs',
      comment:
        'app/ (CLI, server, Electron) reaches the engine only through pipelines/jobs and the data-only modules ' +
        '(metadata, plugins, queue, host); submit a job instead of building a pipeline.',
      severity: 'error',
      from: { path: '^app/' },
      to: { path: '^pipelines/', pathNot: APP_MAY_IMPORT },
    },
    {
      name: 'pipelines-not-app',
      comment: 'pipelines/ is the engine: it never imports app/ or renderer/ (move the shared part into pipelines/).',
      severity: 'error',
      from: { path: '^pipelines/' },
      to: { path: '^(app|renderer)/' },
    },
    {
      name: 'no-cycles',
      comment: 'No import cycles: split the shared part into a module both sides import.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.cts', '.mts', '.js', '.mjs', '.cjs', '.svelte', '.json'] },
  },
};
