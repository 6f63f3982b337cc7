// Compile-time checks: `tsc --noEmit` fails when the client's types stop matching the product
// document's use of them. The test itself checks the inferred shapes at run time too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FormData } from '@rekall/agent-sdk';

const fields = [
  { name: 'quality', type: 'rating', label: 'Code Quality', min: 1, max: 5 },
  { name: 'issues', type: 'multiselect', label: 'Issues', options: ['Logic error', 'No issues'] },
  { name: 'action', type: 'select', label: 'Action', options: ['Block PR', 'False positive'] },
  { name: 'comments', type: 'text', label: 'Comments', required: false },
] as const;
type Data = FormData<typeof fields>;

test('a form\'s answers are typed by its fields', () => {
  const data: Data = { quality: 2, issues: ['Logic error'], action: 'Block PR' };
  const quality: number = data.quality;
  const issues: ('Logic error' | 'No issues')[] = data.issues;
  const comments: string | undefined = data.comments;
  // @ts-expect-error an option the form does not offer
  const wrong: Data = { quality: 2, issues: [], action: 'Ship it' };
  // @ts-expect-error a field the form does not ask
  void data.severity;
  // @ts-expect-error a required answer missing
  const missing: Data = { issues: [], action: 'Block PR' };
  assert.deepEqual({ quality, issues, comments, wrong: wrong.action, missing: missing.action }, {
    quality: 2,
    issues: ['Logic error'],
    comments: undefined,
    wrong: 'Ship it',
    missing: 'Block PR',
  });
});
