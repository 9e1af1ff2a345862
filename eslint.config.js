// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * STYLE.md's layers, as the folders of src/ may import each other (anything not listed is refused,
 * so a new cycle or a logic module reaching into an adapter fails lint). `cli` is the composition
 * root and `controller` the one module that combines the others; `records` are the decision
 * records every layer reads.
 */
const LAYERS = {
  common: [],
  config: ['common'],
  events: ['common'],
  safety: ['common'],
  checks: ['common', 'config'],
  workflow: ['common', 'config'],
  inventory: ['common'],
  sensors: ['common', 'events', 'inventory'],
  matching: ['config', 'events'],
  records: ['common', 'events', 'cluster', 'safety'],
  metrics: ['common', 'records'],
  ingest: ['common'],
  cluster: ['common'],
  actions: ['common', 'config', 'inventory', 'pager', 'notify'],
  pager: ['common'],
  notify: ['common', 'config', 'pager'],
  audit: ['common', 'records', 'workflow'],
  api: ['common', 'config', 'events', 'audit', 'metrics', 'records', 'sensors'],
  sim: ['common', 'cluster', 'ingest', 'pager'],
  controller: [
    ...['common', 'config', 'events', 'safety', 'checks', 'workflow', 'inventory', 'matching'],
    ...['records', 'metrics', 'ingest', 'cluster', 'actions', 'pager', 'notify', 'audit', 'api'],
    'sensors',
  ],
};
const FOLDERS = [...Object.keys(LAYERS), 'cli'];

const layerRules = Object.entries(LAYERS).map(([folder, allowed]) => ({
  files: [`src/${folder}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: FOLDERS.filter((f) => f !== folder && !allowed.includes(f)).map((f) => ({
          group: [`../${f}/*`, `../../${f}/*`],
          message: `src/${folder} may import only ${allowed.length === 0 ? 'no other folder' : allowed.join(', ')} (STYLE.md's layers; see LAYERS in eslint.config.js)`,
        })),
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // In an async distributed system a forgotten promise is a lost event.
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test runs describe/test blocks itself; their returned promises are not lost.
        {
          allowForKnownSafeCalls: [
            { from: 'package', name: ['describe', 'test', 'it', 'suite'], package: 'node:test' },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  ...layerRules,
);
