import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const file = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

test('the README shows deployToProduction exactly as the example the tests run', () => {
  const readme = file('README.md');
  const example = file('examples/deploy-to-production.ts');
  assert.ok(readme.includes('```ts\n' + example + '```\n'), 'README.md holds examples/deploy-to-production.ts verbatim');
});

test('the top README\'s Clients block is deployToProduction as examples/deploy-to-production.ts has it', () => {
  const readme = file('../../README.md');
  const example = file('examples/deploy-to-production.ts');
  const fn = example.slice(example.indexOf('async function deployToProduction'), example.indexOf('\nawait deployToProduction')).trimEnd() + '\n';
  const section = readme.slice(readme.indexOf('## Clients'));
  assert.ok(fn.length > 100, 'the example holds the function');
  assert.ok(section.includes('```ts\n' + fn + '```\n'), 'README.md\'s Clients section holds the example\'s deployToProduction verbatim');
});
