import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Rekall from '@rekall/agent-sdk';
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
