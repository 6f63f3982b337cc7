// The product document's examples, run as programs against the real server, each answered by a
// scripted person through the client's approver side.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Rekall, { type Approval, type Feedback } from '@rekall/agent-sdk';
import { Server, eventually, token } from './support/server.js';

let server: Server;
const as = (principal: string): Rekall => new Rekall({ apiKey: token(principal), baseUrl: server.baseUrl });
const agent = (): Rekall => as('agent:deploy-bot');

before(async () => {
  server = await Server.start();
});
after(async () => {
  await server.stop();
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a compiled example as the agent; resolves when the program ends. */
function runExample(name: string, args: string[] = []): Promise<Run> {
  const file = fileURLToPath(new URL(`../examples/${name}.js`, import.meta.url));
  const child = spawn(process.execPath, [file, ...args], {
    env: { ...process.env, REKALL_URL: server.baseUrl, REKALL_API_KEY: token('agent:deploy-bot') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** The first pending approval titled `title` in `principal`'s queue, once it shows. */
function queued(principal: string, title: string): Promise<Approval> {
  return eventually(`${principal} sees "${title}"`, async () => {
    const page = await as(principal).approvals.list();
    return page.items.find((a) => a.title === title);
  });
}

function feedbackQueued(principal: string, title: string): Promise<Feedback> {
  return eventually(`${principal} sees the feedback "${title}"`, async () => {
    const page = await as(principal).feedback.list();
    return page.items.find((f) => f.title === title);
  });
}

async function executionNamed(name: string) {
  const page = await agent().execution.list();
  const found = page.items.filter((e) => e.name === name);
  assert.equal(found.length, 1, `one execution named ${name}`);
  return found[0]!;
}

test('deployToProduction: adam approves, the deploy runs and the result names him', async () => {
  const run = runExample('deploy-to-production', ['api', '1.4.2']);
  const request = await queued('user:adam', 'Production Deployment Approval');
  assert.match(request.description, /Image: registry.example.com\/api:1.4.2/);
  await as('user:adam').approvals.approve(request.id, { comment: 'Ship it' });
  const result = await run;
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /deployed api@1.4.2 to production/);
  const execution = await executionNamed('Deploy api@1.4.2 to production');
  assert.equal(execution.status, 'completed');
  assert.deepEqual(execution.result, { deployedBy: ['user:adam'] });
});

test('deployToProduction: adam rejects, nothing is deployed and the reason is kept', async () => {
  const run = runExample('deploy-to-production', ['billing', '2.0.0']);
  const request = await queued('user:adam', 'Production Deployment Approval');
  await as('user:adam').approvals.reject(request.id, { reason: 'Freeze until Monday' });
  const result = await run;
  assert.equal(result.code, 0, result.stderr);
  assert.doesNotMatch(result.stdout, /deployed/);
  const execution = await executionNamed('Deploy billing@2.0.0 to production');
  assert.equal(execution.status, 'completed');
  assert.deepEqual(execution.result, { status: 'rejected', reason: 'Freeze until Monday' });
});

test('the migration chain: alice reviews, then carol approves, and each step shows who', async () => {
  const run = runExample('migration-chain');
  const review = await queued('user:alice', 'Database Schema Migration');
  // Carol's step has not opened: her vote is refused.
  await assert.rejects(as('user:carol').approvals.approve(review.id), (e: unknown) => (e as { status: number }).status === 403);
  const receipt = await as('user:alice').approvals.approve(review.id, { comment: 'Schema looks right' });
  assert.equal(receipt.status, 'pending');
  const manager = await queued('user:carol', 'Database Schema Migration');
  assert.equal(manager.id, review.id);
  await as('user:carol').approvals.approve(manager.id);
  const result = await run;
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /Approval status: approved/);
  assert.match(result.stdout, / Technical Review: approved \(user:alice\)/);
  assert.match(result.stdout, / Manager Approval: approved \(user:carol\)/);
  const execution = await executionNamed('Migrate legacy_users to users_v2');
  assert.deepEqual(execution.result, { migration: 'approved' });
});

test('the feedback form: a low rating becomes an episodic memory tagged feedback', async () => {
  const run = runExample('code-review-feedback');
  const request = await feedbackQueued('user:adam', 'Review Generated Code');
  // A wrong answer is refused with the field named, and the request stays open.
  await assert.rejects(
    as('user:adam').feedback.submit(request.id, { quality: 9, issues: [] }),
    (e: unknown) => (e as { status: number; field: string }).status === 422 && (e as { field: string }).field === 'data.quality',
  );
  await as('user:adam').feedback.submit(request.id, {
    quality: 2,
    issues: ['Security concern', 'Missing error handling'],
    comments: 'Compare tokens in constant time',
  });
  const result = await run;
  assert.equal(result.code, 0, result.stderr);
  const memories = await agent().memories.list({ tag: 'feedback' });
  const memory = memories.items.find((m) => m.content.startsWith('Code generation feedback: quality 2/5.'));
  assert.ok(memory, JSON.stringify(memories.items));
  assert.equal(
    memory.content,
    'Code generation feedback: quality 2/5. Issues: Security concern, Missing error handling. Compare tokens in constant time',
  );
  // The server keeps tags as a set (sorted), not in the order given.
  assert.deepEqual([...(memory.metadata.tags ?? [])].sort(), ['code-generation', 'feedback']);
  assert.equal(memory.importance, 0.8);
});

test('processTask: a confident task goes ahead, an unsure one pauses on an approval for adam', async () => {
  const sure = await runExample('process-task', ['summarize', '0.95']);
  assert.equal(sure.code, 0, sure.stderr);
  assert.match(sure.stdout, /executed summarize/);

  const unsure = await runExample('process-task', ['summarize', '0.5']);
  assert.equal(unsure.code, 0, unsure.stderr);
  assert.match(unsure.stdout, /Escalated: /);
  const id = /execution: (\S+)/.exec(unsure.stdout)?.[1];
  assert.ok(id);
  const paused = await agent().execution.get({ executionId: id });
  assert.equal(paused.status, 'paused');
  assert.equal(paused.waitingOn.length, 1);
  const approval = await as('user:adam').approvals.get(paused.waitingOn[0]!);
  await as('user:adam').approvals.approve(approval.id);
  const resumed = await eventually('the execution runs again', async () => {
    const e = await agent().execution.get({ executionId: id });
    return e.status === 'running' ? e : undefined;
  });
  assert.equal(resumed.waitingOn.length, 0);
});

test('codeReviewWorkflow: a reviewer blocks the PR and the workflow stops there', async () => {
  const run = runExample('code-review-workflow', ['42']);
  const request = await feedbackQueued('user:alice', 'Critical issues in PR #42');
  assert.equal(request.artifacts.length, 1);
  await as('user:alice').feedback.submit(request.id, { action: 'Block PR', comments: 'Use a parameterised query' });
  const result = await run;
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /PR #42: changes_requested: Use a parameterised query/);
  const execution = await executionNamed('Code review for PR #42');
  assert.equal(execution.status, 'completed');
  assert.equal(execution.checkpoint?.message, 'Human review: Block PR');
});

test('codeReviewWorkflow: a false positive goes on to the summary review', async () => {
  const run = runExample('code-review-workflow', ['43']);
  const request = await feedbackQueued('user:carol', 'Critical issues in PR #43');
  await as('user:carol').feedback.submit(request.id, { action: 'False positive', comments: 'The id is a number' });
  const result = await run;
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /PR #43: comment: - critical/);
  const execution = await executionNamed('Code review for PR #43');
  assert.deepEqual(execution.result, { issues: 2, criticalReviewed: 1 });
});

test('the quickstart example: adam approves and the result names him', async () => {
  const run = runExample('quickstart');
  const request = await queued('user:adam', 'Production Deployment Approval');
  await as('user:adam').approvals.approve(request.id, { comment: 'Ship it' });
  const result = await run;
  assert.equal(result.code, 0, result.stderr);
  const page = await agent().execution.list();
  const execution = page.items.find((e) => e.id === request.executionId);
  assert.equal(execution?.status, 'completed');
  assert.deepEqual(execution?.result, { deployedBy: ['user:adam'] });
});
