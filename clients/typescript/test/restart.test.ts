import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Rekall from '@rekall/agent-sdk';
import { Server, eventually, token } from './support/server.js';
import { lossyProxy, type Edge } from './support/edges.js';

let server: Server;
let proxy: Edge;
const as = (principal: string): Rekall => new Rekall({ apiKey: token(principal), baseUrl: server.baseUrl });
// The agent talks through a proxy that loses nothing, so that the test sees when its long-poll
// is under way, and kills the server then.
const agent = (): Rekall => new Rekall({ apiKey: token('agent:deploy-bot'), baseUrl: proxy.baseUrl });
const waitsSeen = (): number => proxy.seen.filter((s) => s.method === 'GET' && s.url.includes('wait=')).length;

before(async () => {
  server = await Server.start();
  proxy = await lossyProxy(server.baseUrl, () => false);
});
after(async () => {
  await proxy.close();
  await server.stop();
});

test('a requestApproval that waits survives kill -9 and a restart on the same store and port', async () => {
  const rekall = agent();
  const execution = await rekall.execution.create({ name: 'Deploy across a restart' });
  await rekall.execution.start({ executionId: execution.id });
  const before = waitsSeen();
  const waiting = rekall.execution.requestApproval({
    executionId: execution.id,
    title: 'Approve after the restart',
    approvers: ['user:adam'],
  });
  let settled = false;
  void waiting.finally(() => (settled = true)).catch(() => undefined);
  await eventually('the agent waits', async () => (waitsSeen() > before ? true : undefined));
  const request = (await as('user:adam').approvals.list()).items.find((a) => a.executionId === execution.id);
  assert.ok(request);
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
  assert.ok(waitsSeen() > before + 1, 'the client asked again after the restart');
});

test('a requestFeedback that waits survives kill -9 too, and gets the answers given after the restart', async () => {
  const rekall = agent();
  const execution = await rekall.execution.create({ name: 'Feedback across a restart' });
  await rekall.execution.start({ executionId: execution.id });
  const before = waitsSeen();
  const waiting = rekall.execution.requestFeedback({
    executionId: execution.id,
    title: 'Rate after the restart',
    form: { fields: [{ name: 'quality', type: 'rating', label: 'Quality', min: 1, max: 5 }] },
  });
  await eventually('the agent waits', async () => (waitsSeen() > before ? true : undefined));
  const request = (await as('user:alice').feedback.list()).items.find((f) => f.executionId === execution.id);
  assert.ok(request);
  await server.kill9();
  await server.restart();
  await as('user:alice').feedback.submit(request.id, { quality: 4 });
  const feedback = await waiting;
  assert.equal(feedback.status, 'submitted');
  assert.equal(feedback.data.quality, 4);
});
