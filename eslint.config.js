// ESLint: typescript-eslint's strict, type-checked rules on every TypeScript
// file (src, test, bench, examples, configs); plain recommended rules on the
// few JavaScript files. Formatting is Prettier's job (npm run format).
import eslint from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.pgpulse-tmp/', 'test-results/'] },
  eslint.configs.recommended,
  tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Numbers in messages (`${ms} ms`) are clear; other non-strings still need String(…).
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      // `(x) => set.add(x)` shorthands and `return next()` in a function that itself returns void are fine.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true, ignoreVoidReturningFunctions: true }],
      // With noUncheckedIndexedAccess on, `a[i]!` after a bounds check is the idiom in the hot loops
      // (histograms, HyperLogLog registers, batches); the rule would push `?? 0` fallbacks that hide bugs.
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // Tests and benchmarks read HTTP JSON bodies, SSE data and raw pg rows (typed `any` by their libraries)
    // and check them with expect(); typing every body would only restate the assertions.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // `let x: T` set in beforeAll and closed with `x?.close()` in afterAll: the `?.` matters when beforeAll failed.
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // `const { close } = await app()`: helpers return objects of closures, not classes.
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    // Fastify and Hono handlers are async by convention (Fastify sends what an async handler returns).
    files: ['test/**/*.ts', 'bench/**/*.ts', 'examples/**/*.ts'],
    rules: { '@typescript-eslint/require-await': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: globals.node },
  },
  {
    // The dashboard page's script runs in the browser, with uPlot loaded by a <script> tag.
    files: ['assets/**/*.js'],
    languageOptions: { sourceType: 'script', globals: { ...globals.browser, uPlot: 'readonly' } },
    // The view state is a plain object keyed by filter name; deleting a key is how a filter is removed.
    rules: { '@typescript-eslint/no-dynamic-delete': 'off' },
  },
);
