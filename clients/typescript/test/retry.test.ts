import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Rekall, { RekallConnectionError, RekallError, parseRetryAfter } from '@rekall/agent-sdk';
import { Server, token } from './support/server.js';
import { lossyProxy, scripted } from './support/edges.js';

let server: Server;

before(async () => {
  server = await Server.start();
});
after(async () => {
  await server.stop();
});

const execution = { id: 'exe_1', name: 'n', status: 'created', config: { onFailure: 'fail' }, agent: 'agent:x', waitingOn: [], createdAt: 1, updatedAt: 1 };
const quick = { baseDelayMs: 10, maxDelayMs: 5_000 };

test('a lost answer: the retried create carries the same key and makes one execution', async () => {
  const proxy = await lossyProxy(server.baseUrl, (n, seen) => n === 0 && seen.method === 'POST');
  try {
    const rekall = new Rekall({ apiKey: token('agent:deploy-bot'), baseUrl: proxy.baseUrl, retry: quick });
    const created = await rekall.execution.create({ name: 'created once through a lossy network' });
    const posts = proxy.seen.filter((s) => s.method === 'POST');
    assert.equal(posts.length, 2, 'sent twice');
    assert.ok(posts[0]!.headers['idempotency-key']);
    assert.equal(posts[1]!.headers['idempotency-key'], posts[0]!.headers['idempotency-key']);
    assert.deepEqual(proxy.replayed.slice(0, 2), ['', 'true'], 'the second answer is the kept first one');
    const direct = new Rekall({ apiKey: token('agent:deploy-bot'), baseUrl: server.baseUrl });
    const all = (await direct.execution.list({ limit: 200 })).items.filter((e) => e.name === 'created once through a lossy network');
    assert.deepEqual(all.map((e) => e.id), [created.id]);
  } finally {
    await proxy.close();
  }
});

test('two calls are two keys: the same body sent twice by the program makes two executions', async () => {
  const rekall = new Rekall({ apiKey: token('agent:deploy-bot'), baseUrl: server.baseUrl });
  const a = await rekall.execution.create({ name: 'twice on purpose' });
  const b = await rekall.execution.create({ name: 'twice on purpose' });
  assert.notEqual(a.id, b.id);
});

test('connection errors are retried until an answer comes', async () => {
  const proxy = await lossyProxy(server.baseUrl, (n) => n < 2);
  try {
    const rekall = new Rekall({ apiKey: token('agent:deploy-bot'), baseUrl: proxy.baseUrl, retry: quick });
    const created = await rekall.execution.create({ name: 'after two cuts' });
    assert.equal(created.status, 'created');
    assert.equal(proxy.seen.length, 3);
  } finally {
    await proxy.close();
  }
});

test('429 and 503 are retried after their Retry-After, with the one key', async () => {
  const at: number[] = [];
  const edge = await scripted((n, _seen, res) => {
    at.push(Date.now());
    if (n === 0) {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' });
      res.end(JSON.stringify({ error: { code: 'rate_limited', message: 'slow down' } }));
    } else if (n === 1) {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
      res.end(JSON.stringify({ error: { code: 'unavailable', message: 'the store is away' } }));
    } else {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify(execution));
    }
  });
  try {
    const rekall = new Rekall({ apiKey: 'k', baseUrl: edge.baseUrl, retry: quick });
    const created = await rekall.execution.create({ name: 'n' });
    assert.equal(created.id, 'exe_1');
    assert.equal(edge.seen.length, 3);
    const keys = new Set(edge.seen.map((s) => s.headers['idempotency-key']));
    assert.equal(keys.size, 1);
    // Retry-After: 1 is a lower bound on each gap (our own backoff would be ~10 ms).
    assert.ok(at[1]! - at[0]! >= 990, `waited ${at[1]! - at[0]!} ms after a 429`);
    assert.ok(at[2]! - at[1]! >= 990, `waited ${at[2]! - at[1]! } ms after a 503`);
  } finally {
    await edge.close();
  }
});

test('500 is retried; a 4xx such as 422 is not', async () => {
  const edge = await scripted((n, seen, res) => {
    if (seen.url.startsWith('/v1/executions') && n === 0) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('boom');
      return;
    }
    if (seen.url === '/v1/memories') {
      res.writeHead(422, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'invalid_field', message: 'importance is from 0 to 1', field: 'importance' } }));
      return;
    }
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end(JSON.stringify(execution));
  });
  try {
    const rekall = new Rekall({ apiKey: 'k', baseUrl: edge.baseUrl, retry: quick });
    await rekall.execution.create({ name: 'n' });
    assert.equal(edge.seen.length, 2);
    await assert.rejects(rekall.memories.create({ content: 'x', importance: 2 }), (error: unknown) => {
      assert.ok(error instanceof RekallError);
      assert.deepEqual([error.status, error.code, error.field], [422, 'invalid_field', 'importance']);
      return true;
    });
    assert.equal(edge.seen.length, 3, 'the 422 was asked once');
  } finally {
    await edge.close();
  }
});

test('retries end: after maxRetries a RekallConnectionError', async () => {
  const edge = await scripted(() => 'drop');
  try {
    const rekall = new Rekall({ apiKey: 'k', baseUrl: edge.baseUrl, retry: { maxRetries: 2, baseDelayMs: 5 } });
    await assert.rejects(rekall.execution.create({ name: 'n' }), (error: unknown) => error instanceof RekallConnectionError && error.status === 0);
    assert.equal(edge.seen.length, 3);
  } finally {
    await edge.close();
  }
});

test('an abort during the backoff stops the retries at once', async () => {
  const controller = new AbortController();
  const edge = await scripted((_n, _seen, res) => {
    res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '600' });
    res.end('{}');
    controller.abort();
  });
  try {
    const rekall = new Rekall({ apiKey: 'k', baseUrl: edge.baseUrl, retry: { maxDelayMs: 600_000 } });
    await assert.rejects(rekall.execution.create({ name: 'n' }, { signal: controller.signal }), (error: unknown) => (error as Error).name === 'AbortError');
    assert.equal(edge.seen.length, 1);
  } finally {
    await edge.close();
  }
});

test('Retry-After is read as seconds or as an HTTP date', () => {
  assert.equal(parseRetryAfter('3'), 3000);
  assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6000);
  assert.equal(parseRetryAfter('soon'), undefined);
  assert.equal(parseRetryAfter(null), undefined);
});

test('a lost answer to a vote: the retried approve is the same vote, counted once', async () => {
  const agent = new Rekall({ apiKey: token('agent:deploy-bot'), baseUrl: server.baseUrl });
  const e = await agent.execution.create({ name: 'a vote through a lossy network' });
  await agent.execution.start({ executionId: e.id });
  const request = await agent.execution.createApproval({ executionId: e.id, title: 'vote once', approvers: ['user:adam', 'user:alice'], minApprovals: 2 });
  const proxy = await lossyProxy(server.baseUrl, (n) => n === 0);
  try {
    const adam = new Rekall({ apiKey: token('user:adam'), baseUrl: proxy.baseUrl, retry: quick });
    const receipt = await adam.approvals.approve(request.id, { comment: 'once' });
    assert.equal(proxy.seen.length, 2);
    assert.deepEqual(proxy.replayed, ['', 'true']);
    assert.equal(receipt.counted, true);
    assert.deepEqual(receipt.approvedBy, ['user:adam']);
    const after = await agent.execution.waitForApproval(request.id, { timeoutMs: 1000 }).catch((error: unknown) => error);
    assert.ok(after instanceof RekallError && after.code === 'deadline_exceeded', 'still pending: one vote of two');
  } finally {
    await proxy.close();
  }
});

test('409 conflict with Retry-After (the same key still running) is retried; invalid_transition is not', async () => {
  const edge = await scripted((n, seen, res) => {
    if (seen.url.endsWith('/start')) {
      res.writeHead(409, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'invalid_transition', message: 'completed executions do not start' } }));
    } else if (n === 0) {
      res.writeHead(409, { 'content-type': 'application/json', 'retry-after': '0' });
      res.end(JSON.stringify({ error: { code: 'conflict', message: 'the same request is still running' } }));
    } else {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify(execution));
    }
  });
  try {
    const rekall = new Rekall({ apiKey: 'k', baseUrl: edge.baseUrl, retry: quick });
    await rekall.execution.create({ name: 'n' });
    assert.equal(edge.seen.length, 2);
    await assert.rejects(rekall.execution.start({ executionId: 'exe_1' }), (error: unknown) => error instanceof RekallError && error.code === 'invalid_transition');
    assert.equal(edge.seen.length, 3);
  } finally {
    await edge.close();
  }
});

test('an answer that is not JSON is a RekallError bad_response', async () => {
  const edge = await scripted((_n, _seen, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<html>a captive portal</html>');
  });
  try {
    const rekall = new Rekall({ apiKey: 'k', baseUrl: edge.baseUrl });
    await assert.rejects(rekall.execution.get({ executionId: 'exe_1' }), (error: unknown) => error instanceof RekallError && error.code === 'bad_response');
  } finally {
    await edge.close();
  }
});

test('a create whose key stays in flight (its server died before keeping the answer) finds the request the execution waits on', async () => {
  const approval = { id: 'apr_1', executionId: 'exe_1', title: 'Deploy', description: '', status: 'approved', approvedBy: ['user:adam'], chain: false, chainStatus: [], notifyVia: [], requestedBy: 'agent:x', createdAt: 1 };
  const edge = await scripted((_n, seen, res) => {
    res.setHeader('content-type', 'application/json');
    if (seen.method === 'POST') {
      res.writeHead(409, { 'retry-after': '0' });
      res.end(JSON.stringify({ error: { code: 'conflict', message: 'has run since 1 and not answered yet' } }));
    } else if (seen.url === '/v1/executions/exe_1') {
      res.end(JSON.stringify({ ...execution, status: 'paused', waitingOn: ['apr_0', 'apr_1'] }));
    } else if (seen.url === '/v1/approvals/apr_0') {
      res.end(JSON.stringify({ ...approval, id: 'apr_0', title: 'Another request' }));
    } else {
      res.end(JSON.stringify(approval));
    }
  });
  try {
    const rekall = new Rekall({ apiKey: 'k', baseUrl: edge.baseUrl, retry: quick });
    const found = await rekall.execution.requestApproval({ executionId: 'exe_1', title: 'Deploy', approvers: ['user:adam'] });
    assert.equal(found.id, 'apr_1');
    assert.equal(found.status, 'approved');
    assert.equal(edge.seen.filter((s) => s.method === 'POST').length, 5, 'the create was retried first');
    // With no request of that title to wait on, the conflict is the answer.
    await assert.rejects(
      rekall.execution.requestApproval({ executionId: 'exe_1', title: 'Nothing like it' }),
      (error: unknown) => error instanceof RekallError && error.status === 409 && error.code === 'conflict',
    );
  } finally {
    await edge.close();
  }
});
