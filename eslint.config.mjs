import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'libs/database/src/generated/**', 'bench/results/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    // The server reads time only through the injected Clock, so tests can move it.
    // Clients (libs/client), the test and bench harness (libs/harness) and specs use the system's time.
    files: ['libs/**/*.ts', 'apps/gateway/**/*.ts'],
    ignores: ['libs/client/**', 'libs/harness/**', '**/*.spec.ts', 'libs/config/src/clock.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'Read the time from the injected Clock (clock.now()), not Date.now().' },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'Read the time from the injected Clock (clock.now()), not new Date().',
        },
        {
          selector: "CallExpression[callee.type='Identifier'][callee.name='Date']",
          message: 'Read the time from the injected Clock (clock.now()), not Date().',
        },
      ],
    },
  },
  {
    // Benchmarks and the harness stand on their own: what tests and benchmarks both need is libs/harness.
    files: ['bench/**/*.ts', 'libs/harness/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/test', '**/test/**', '@app/testing', '@app/testing/**'],
              message: 'bench/ and libs/harness import nothing of test/: what both need lives in @app/harness (libs/harness).',
            },
          ],
        },
      ],
    },
  },
);
