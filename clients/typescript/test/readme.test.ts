import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const file = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

test('the README shows deployToProduction exactly as the example the tests run', () => {
  const readme = file('README.md');
  const example = file('examples/deploy-to-production.ts');
  assert.ok(readme.includes('```ts\n' + example + '```\n'), 'README.md holds examples/deploy-to-production.ts verbatim');
});

test('the top README\'s Clients block is examples/quickstart.ts, which the tests run', () => {
  const readme = file('../../README.md');
  const quickstart = file('examples/quickstart.ts');
  const section = readme.slice(readme.indexOf('## Clients'));
  assert.ok(section.includes('```ts\n' + quickstart + '```\n'), 'README.md\'s Clients section holds examples/quickstart.ts verbatim');
});
