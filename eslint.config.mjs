// Lint configuration (`npm run lint`): typescript-eslint's type-aware recommended rules over every
// TypeScript file of the project, zero warnings allowed. Formatting is prettier's alone
// (`npm run format`, checked by `npm run lint`).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['node_modules/', 'build/', '.tools/', 'coverage/', 'charts/', 'dist/', 'imports/', 'test/fixtures/'],
  },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },
  {
    // Tests read JSON the CLI printed, YAML that helm rendered and manifests from the API server,
    // then assert on fields: typing every one of those documents would restate the code under test.
    // The unsafe-any family stays on everywhere else.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
);
