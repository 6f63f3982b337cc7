import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Rekall, { RekallDeadlineError, RekallError } from '@rekall/agent-sdk';
import { Server, eventually, token } from './support/server.js';

let server: Server;
const as = (principal: string): Rekall => new Rekall({ apiKey: token(principal), baseUrl: server.baseUrl, agentId: 'ts-test' });

before(async () => {
  server = await Server.start();
});
after(async () => {
  await server.stop();
});

test('deployToProduction: requestApproval waits until adam approves through the approver side', async () => {
  const rekall = as('agent:deploy-bot');
  const adam = as('user:adam');
  const execution = await rekall.execution.create({ name: 'Deploy api@1.4.2', config: { onFailure: 'pause' } });
  assert.equal(execution.status, 'created');
  await rekall.execution.start({ executionId: execution.id });
  const cp = await rekall.execution.checkpoint({ executionId: execution.id, step: 1, message: 'Tests passed' });
  assert.equal(cp.step, 1);
  const waiting = rekall.execution.requestApproval({
    executionId: execution.id,
    title: 'Production Deployment Approval',
    approvers: ['user:adam'],
    timeout: 3600000,
    notifyVia: ['email', 'slack'],
  });
  const pending = await eventually('adam sees the request', async () => {
    const page = await adam.approvals.list();
    return page.items.find((a) => a.executionId === execution.id);
  });
  const receipt = await adam.approvals.approve(pending.id, { comment: 'Ship it' });
  assert.equal(receipt.counted, true);
  const approval = await waiting;
  assert.equal(approval.status, 'approved');
  assert.deepEqual(approval.approvedBy, ['user:adam']);
  assert.equal(approval.chainStatus[0]?.name, 'approval');
  const done = await rekall.execution.complete({ executionId: execution.id, result: { deployedBy: approval.approvedBy } });
  assert.equal(done.status, 'completed');
  assert.deepEqual(done.result, { deployedBy: ['user:adam'] });
});

function rekallError(status: number, code: string, field?: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof RekallError, `a RekallError, not ${String(error)}`);
    assert.equal(error.status, status, error.message);
    assert.equal(error.code, code, error.message);
    if (field !== undefined) assert.equal(error.field, field);
    return true;
  };
}

async function running(name: string): Promise<string> {
  const rekall = as('agent:deploy-bot');
  const e = await rekall.execution.create({ name });
  await rekall.execution.start({ executionId: e.id });
  return e.id;
}

test('401: an unknown token is a RekallError unauthenticated, not retried', async () => {
  const stranger = new Rekall({ apiKey: 'not-a-token', baseUrl: server.baseUrl });
  await assert.rejects(stranger.execution.create({ name: 'nope' }), rekallError(401, 'unauthenticated'));
});

test('403: an agent voting, and an approver not listed, are forbidden', async () => {
  const executionId = await running('403s');
  const approval = await as('agent:deploy-bot').execution.createApproval({ executionId, title: 'who votes', approvers: ['user:adam'] });
  await assert.rejects(as('agent:deploy-bot').approvals.approve(approval.id), rekallError(403, 'forbidden'));
  await assert.rejects(as('user:alice').approvals.approve(approval.id), rekallError(403, 'forbidden'));
});

test('409: a vote on a resolved request, and completing twice', async () => {
  const executionId = await running('409s');
  const approval = await as('agent:deploy-bot').execution.createApproval({ executionId, title: 'once', approvers: ['user:adam'] });
  await as('user:adam').approvals.reject(approval.id, { reason: 'no' });
  await assert.rejects(as('user:adam').approvals.approve(approval.id), rekallError(409, 'already_resolved'));
  await as('agent:deploy-bot').execution.complete({ executionId });
  await assert.rejects(as('agent:deploy-bot').execution.complete({ executionId }), rekallError(409, 'invalid_transition'));
});

test('422: a confidence of 1.5 names its field', async () => {
  const executionId = await running('422s');
  await assert.rejects(
    as('agent:deploy-bot').execution.checkEscalation({ executionId, action: 'summarize', confidence: 1.5 }),
    rekallError(422, 'invalid_field', 'confidence'),
  );
});

test('404: an id that is not the caller\'s', async () => {
  await assert.rejects(as('agent:deploy-bot').execution.get({ executionId: 'exe_nope' }), rekallError(404, 'not_found'));
});

test('abort: the signal stops a requestApproval that waits, and the request stays pending', async () => {
  const executionId = await running('abort');
  const controller = new AbortController();
  const waiting = as('agent:deploy-bot').execution.requestApproval(
    { executionId, title: 'aborted wait', approvers: ['user:adam'] },
    { signal: controller.signal },
  );
  const request = await eventually('the request is open', async () =>
    (await as('user:adam').approvals.list()).items.find((a) => a.executionId === executionId),
  );
  controller.abort();
  await assert.rejects(waiting, (error: unknown) => (error as Error).name === 'AbortError');
  assert.equal((await as('user:adam').approvals.get(request.id)).status, 'pending');
});

test('deadline: a client-side timeout ends the wait with RekallDeadlineError', async () => {
  const executionId = await running('deadline');
  await assert.rejects(
    as('agent:deploy-bot').execution.requestApproval(
      { executionId, title: 'nobody answers', approvers: ['user:adam'] },
      { timeoutMs: 1200 },
    ),
    (error: unknown) => error instanceof RekallDeadlineError && error.code === 'deadline_exceeded',
  );
});

test('requestFeedback gives the answers by field name', async () => {
  const executionId = await running('feedback');
  const waiting = as('agent:deploy-bot').execution.requestFeedback({
    executionId,
    title: 'pick one',
    form: { fields: [{ name: 'choice', type: 'select', label: 'Choice', options: ['a', 'b'] }, { name: 'score', type: 'rating', label: 'Score', min: 1, max: 5 }] },
  });
  const request = await eventually('the feedback is open', async () =>
    (await as('user:carol').feedback.list()).items.find((f) => f.executionId === executionId),
  );
  await assert.rejects(as('user:carol').feedback.submit(request.id, { choice: 'c', score: 3 }), rekallError(422, 'invalid_field', 'data.choice'));
  await as('user:carol').feedback.submit(request.id, { choice: 'b', score: 4 });
  const feedback = await waiting;
  const choice: 'a' | 'b' = feedback.data.choice;
  const score: number = feedback.data.score;
  assert.deepEqual({ choice, score }, { choice: 'b', score: 4 });
  assert.equal(feedback.submittedBy, 'user:carol');
});

test('the agentId is kept with the audit entries the calls cause', async () => {
  const executionId = await running('audited');
  const page = await as('agent:deploy-bot').audit.list({ executionId });
  const instances = page.items.map((e) => (e.detail['http'] as { agentInstance?: string } | undefined)?.agentInstance);
  assert.ok(page.items.length >= 2, JSON.stringify(page.items));
  assert.ok(instances.every((i) => i === 'ts-test'), JSON.stringify(instances));
});

test('decide: the policy answers a request without an execution', async () => {
  const decision = await as('agent:deploy-bot').decide({ action: 'deploy', resource: 'production', confidence: 0.95 });
  assert.equal(decision['outcome'], 'request-approval');
  assert.equal(decision['hitlRuleId'], 'deploy-production');
});

test('the execution\'s own verbs: pause, resume, fail (paused by onFailure: pause), cancel', async () => {
  const rekall = as('agent:deploy-bot');
  const e = await rekall.execution.create({ name: 'lifecycle', config: { onFailure: 'pause' } });
  await rekall.execution.start({ executionId: e.id });
  assert.equal((await rekall.execution.pause({ executionId: e.id })).status, 'paused');
  assert.equal((await rekall.execution.resume({ executionId: e.id })).status, 'running');
  const failed = await rekall.execution.fail({ executionId: e.id, error: 'the registry is down' });
  assert.equal(failed.status, 'paused');
  assert.equal(failed.pausedBy?.by, 'failure');
  const cancelled = await rekall.execution.cancel({ executionId: e.id, reason: 'given up' });
  assert.equal(cancelled.status, 'cancelled');
  const page = await rekall.execution.list({ status: 'cancelled' });
  assert.ok(page.items.some((x) => x.id === e.id));
});

test('policies from the agent: a looser HITL set is refused 403, a broken band 422 with diagnostics', async () => {
  const rekall = as('agent:deploy-bot');
  await assert.rejects(
    rekall.execution.setHITLPolicy({ rules: [{ action: '*', resource: '*', requireApproval: false }] }),
    rekallError(403, 'forbidden'),
  );
  await assert.rejects(
    as('agent:other-bot').execution.setHITLPolicy({
      rules: [{ action: '*', resource: '*', requireApproval: true, approvers: ['user:adam'] }],
    }),
    rekallError(403, 'forbidden'),
  );
  await assert.rejects(
    rekall.execution.setEscalationPolicy({ rules: [{ confidenceRange: [0.5, 1.5], action: 'auto-approve' }] }),
    (error: unknown) => {
      assert.ok(error instanceof RekallError);
      assert.equal(error.status, 422, error.message);
      assert.ok(error.diagnostics && error.diagnostics.length > 0, JSON.stringify(error.body));
      return true;
    },
  );
});
