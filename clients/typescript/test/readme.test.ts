import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const file = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

test('the README shows deployToProduction exactly as the example the tests run', () => {
  const readme = file('README.md');
  const example = file('examples/deploy-to-production.ts');
  assert.ok(readme.includes('```ts\n' + example + '```\n'), 'README.md holds examples/deploy-to-production.ts verbatim');
});
