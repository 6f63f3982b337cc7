import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Rekall from '@rekall/agent-sdk';
import { Server, eventually, token } from './support/server.js';

let server: Server;
const as = (principal: string): Rekall => new Rekall({ apiKey: token(principal), baseUrl: server.baseUrl });

before(async () => {
  server = await Server.start();
});
after(async () => {
  await server.stop();
});

test('a requestApproval that waits survives kill -9 and a restart on the same store and port', async () => {
  const rekall = as('agent:deploy-bot');
  const execution = await rekall.execution.create({ name: 'Deploy across a restart' });
  await rekall.execution.start({ executionId: execution.id });
  const waiting = rekall.execution.requestApproval({
    executionId: execution.id,
    title: 'Approve after the restart',
    approvers: ['user:adam'],
  });
  let settled = false;
  void waiting.finally(() => (settled = true)).catch(() => undefined);
  const request = await eventually('the request is open', async () =>
    (await as('user:adam').approvals.list()).items.find((a) => a.executionId === execution.id),
  );
  const address = server.address;
  await server.kill9();
  await server.restart();
  assert.equal(server.address, address);
  assert.equal(settled, false, 'the wait is still waiting');
  assert.equal((await as('user:adam').approvals.get(request.id)).status, 'pending');
  await as('user:adam').approvals.approve(request.id, { comment: 'after the restart' });
  const approval = await waiting;
  assert.equal(approval.status, 'approved');
  assert.deepEqual(approval.approvedBy, ['user:adam']);
});
