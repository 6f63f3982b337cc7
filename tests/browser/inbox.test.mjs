// The inbox in a real browser: Debian's chromium, headless, driven by Playwright, against the
// real `rekall-policy serve` on 127.0.0.1 with a fresh SQLite store. Requests are made through
// the HTTP API as an agent would make them; the browser is the approver.
//
// Run by `.ci/browser` (which builds the binary first), or `node --test` in this folder.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BINARY = process.env.REKALL_BINARY || join(ROOT, 'target/debug/rekall-policy');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// The README's screenshots are written only when asked (`REKALL_SCREENSHOTS=docs/screenshots`),
// so that a test run leaves the checkout as it found it; otherwise they go to a temp folder.
const SCREENSHOTS = process.env.REKALL_SCREENSHOTS
  ? join(ROOT, process.env.REKALL_SCREENSHOTS)
  : mkdtempSync(join(tmpdir(), 'rekall-shots-'));
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const PRINCIPALS = {
  'agent:deploy-bot': 'agent',
  'user:adam': 'approver',
  'user:alice': 'approver',
  'user:carol': 'approver',
  'user:root': 'admin',
};
const token = (principal) => `tok-${principal}`;
const sha256 = (text) => createHash('sha256').update(text).digest('hex');

let server;
const serverLog = [];
let base;
const folders = [];

function folder(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  folders.push(dir);
  return dir;
}

before(async () => {
  const dir = folder('rekall-inbox-');
  const lines = [
    `store: sqlite://${join(dir, 'rekall.db')}`,
    `policy: ${join(ROOT, 'policies/seed.yaml')}`,
    // The seed policy notifies by email and Slack; these tests answer in the inbox only.
    'logChannels: [email, slack]',
    'tokens:',
    ...Object.entries(PRINCIPALS).map(
      ([p, role]) => `  - {principal: "${p}", role: ${role}, sha256: "${sha256(token(p))}"}`,
    ),
  ];
  writeFileSync(join(dir, 'rekall-server.yaml'), lines.join('\n') + '\n');
  server = spawn(BINARY, ['serve', '--config', join(dir, 'rekall-server.yaml'), '--listen', '127.0.0.1:0'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The server's log is shown only when a test failed.
  createInterface({ input: server.stderr }).on('line', (line) => serverLog.push(line));
  process.on('exit', (code) => {
    if (code !== 0 || process.exitCode) console.error(`the server's log:\n${serverLog.join('\n')}`);
  });
  const exited = new Promise((_, reject) => server.once('exit', (code) => reject(new Error(`the server ended (${code})`))));
  const listening = new Promise((resolve) => {
    const out = createInterface({ input: server.stdout });
    out.on('line', (line) => {
      const at = line.indexOf('http://');
      if (at >= 0) resolve(line.slice(at).trim());
    });
  });
  base = await Promise.race([listening, exited]);
  // Ready when the store answers: asked, not slept on.
  for (let i = 0; ; i++) {
    const r = await fetch(`${base}/readyz`).catch(() => null);
    if (r && r.ok) break;
    if (i > 100) throw new Error('the server never became ready');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});

after(() => {
  if (server && server.exitCode === null) server.kill('SIGTERM');
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

/// A call to the API as `principal`; the JSON answer, after checking the status.
async function api(method, path, principal, body, status = 200) {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token(principal)}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  assert.equal(r.status, status, `${method} ${path}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/// A running execution of the agent.
async function running(name) {
  const e = await api('POST', '/v1/executions', 'agent:deploy-bot', { name }, 201);
  await api('POST', `/v1/executions/${e.id}/start`, 'agent:deploy-bot', {});
  return e.id;
}

async function approval(body) {
  const exe = await running(body.title);
  const a = await api('POST', `/v1/executions/${exe}/approvals`, 'agent:deploy-bot', body, 201);
  return { exe, id: a.id };
}

/// A fresh browser (its own profile: no cookies) for one test, closed when `use` ends.
async function withBrowser(use, viewport = { width: 1000, height: 800 }) {
  const profile = folder('rekall-chromium-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport,
  });
  try {
    const page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(20000);
    await use(page);
  } finally {
    await context.close();
  }
}

async function signIn(page, principal) {
  await page.goto(`${base}/`);
  assert.match(page.url(), /\/signin$/);
  await page.fill('#token', token(principal));
  await Promise.all([page.waitForURL(`${base}/`), page.click('button[type=submit]')]);
  await page.waitForSelector('h1:has-text("Waiting for you")');
}

test('an approver signs in, opens a pending request, approves it with a comment, and the execution resumes', async () => {
  const { exe, id } = await approval({
    title: 'Production Deployment Approval',
    description: 'Deploy api@1.4.2 to production after green tests.',
    approvers: ['user:adam', 'user:alice'],
    timeout: 3600000,
    priority: 'high',
  });
  assert.equal((await api('GET', `/v1/executions/${exe}`, 'agent:deploy-bot')).status, 'paused');
  await withBrowser(async (page) => {
    await signIn(page, 'user:adam');
    const item = page.locator(`article[data-id="${id}"]`);
    await item.waitFor();
    const text = await item.innerText();
    assert.match(text, /Production Deployment Approval/);
    assert.match(text, /high/);
    assert.match(text, /Also asked: user:alice/);
    assert.match(text, /min left/);
    await Promise.all([page.waitForURL(`${base}/approvals/${id}`), item.locator('a').click()]);
    assert.equal(await page.locator('#description').innerText(), 'Deploy api@1.4.2 to production after green tests.');
    await page.fill('#comment', 'Checked the change log; ship it.');
    await Promise.all([page.waitForLoadState('load'), page.click('button[value=approve]')]);
    const result = await page.locator('#result').innerText();
    assert.match(result, /Your approval was counted: the request is now approved\./);
  });
  const e = await api('GET', `/v1/executions/${exe}`, 'agent:deploy-bot');
  assert.equal(e.status, 'running');
  const a = await api('GET', `/v1/approvals/${id}`, 'agent:deploy-bot');
  assert.deepEqual(a.approvedBy, ['user:adam']);
  const votes = await api('GET', `/v1/audit?executionId=${exe}&kind=vote`, 'agent:deploy-bot');
  assert.equal(votes.items[0].detail.note, 'Checked the change log; ship it.');
});

test('a feedback form with a missing required field shows the error in the page, then takes the fixed answer', async () => {
  const exe = await running('codegen');
  const f = await api('POST', `/v1/executions/${exe}/feedback`, 'agent:deploy-bot', {
    title: 'Review Generated Code',
    description: 'Please review the generated authentication module',
    artifacts: [{ type: 'code', content: 'export function login() {}', language: 'typescript' }],
    form: {
      fields: [
        { name: 'quality', type: 'rating', label: 'Code Quality', min: 1, max: 5 },
        { name: 'issues', type: 'multiselect', label: 'Issues Found', options: ['Missing error handling', 'Security concern', 'No issues'] },
        { name: 'comments', type: 'text', label: 'Additional Comments', required: false },
      ],
    },
  }, 201);
  await withBrowser(async (page) => {
    await signIn(page, 'user:adam');
    await Promise.all([page.waitForURL(`${base}/feedback/${f.id}`), page.click(`article[data-id="${f.id}"] a`)]);
    assert.equal(await page.locator('code.language-typescript').innerText(), 'export function login() {}');
    await page.check('input[value="Security concern"]');
    await page.fill('#f2', 'Looks careful.');
    await page.click('button:has-text("Send")');
    const error = page.locator('#f0-error');
    await error.waitFor({ state: 'visible' });
    assert.equal(await error.innerText(), 'This field is required.');
    assert.equal(page.url(), `${base}/feedback/${f.id}`, 'nothing was sent');
    assert.equal(await page.inputValue('#f2'), 'Looks careful.', 'the input is kept');
    await page.fill('#f0', '9');
    await page.click('button:has-text("Send")');
    assert.equal(await error.innerText(), 'Give a whole number from 1 to 5.');
    await page.fill('#f0', '4');
    await Promise.all([page.waitForLoadState('load'), page.click('button:has-text("Send")')]);
    await page.locator('#result').waitFor();
    assert.match(await page.locator('#result').innerText(), /your answer was recorded/);
    assert.match(await page.locator('#answers').innerText(), /Answered by user:adam/);
  });
  const answered = await api('GET', `/v1/feedback/${f.id}`, 'agent:deploy-bot');
  assert.equal(answered.status, 'submitted');
  assert.deepEqual(answered.data, { quality: 4, issues: ['Security concern'], comments: 'Looks careful.' });
});

test("an agent's script and img onerror in a description are shown as text, and nothing runs", async () => {
  const hostile = '<script>window.__pwned = 1; alert("script")</script><img src=x onerror="window.__pwned = 2; alert(\'img\')">';
  const { id } = await approval({ title: `Deploy ${hostile}`, description: hostile, approvers: ['user:adam'] });
  await withBrowser(async (page) => {
    const dialogs = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      d.dismiss();
    });
    await signIn(page, 'user:adam');
    assert.equal(await page.locator(`article[data-id="${id}"] h2`).innerText(), `Deploy ${hostile}`);
    await page.goto(`${base}/approvals/${id}`);
    assert.equal(await page.locator('#description').innerText(), hostile);
    assert.equal(await page.locator('h1').innerText(), `Deploy ${hostile}`);
    assert.equal(await page.locator('img').count(), 0, 'no injected element');
    assert.equal(await page.locator('main script').count(), 0, 'no injected script');
    assert.equal(await page.locator('script').count(), 1, "only the inbox's own script");
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    assert.deepEqual(dialogs, []);
  });
});

test('the list and a request page update by themselves when the request is approved through the API', async () => {
  const first = await approval({ title: 'Rotate the signing keys', approvers: ['user:adam', 'user:alice'] });
  const second = await approval({ title: 'Drop the staging database', approvers: ['user:adam', 'user:alice'] });
  await withBrowser(async (page) => {
    await signIn(page, 'user:adam');
    await page.locator(`article[data-id="${first.id}"]`).waitFor();
    await api('POST', `/v1/approvals/${first.id}/approve`, 'user:alice', { comment: 'from the API' });
    await page.locator(`article[data-id="${first.id}"]`).waitFor({ state: 'detached' });
    await page.locator(`article[data-id="${second.id}"]`).waitFor();

    await page.goto(`${base}/approvals/${second.id}`);
    await page.locator('form#vote').waitFor();
    await api('POST', `/v1/approvals/${second.id}/reject`, 'user:alice', { reason: 'not today' });
    await page.locator('.badge.s-rejected').waitFor();
    assert.match(await page.locator('#no-vote').innerText(), /rejected; it takes no more votes/);
    assert.match(await page.locator('#votes').innerText(), /user:alice rejected/);

    // A page that answered a form post updates by a fresh GET: the vote is not sent again.
    const third = await approval({ title: 'Open port 22', approvers: ['user:adam', 'user:alice'], minApprovals: 2 });
    await page.goto(`${base}/approvals/${third.id}`);
    await Promise.all([page.waitForLoadState('load'), page.click('button[value=approve]')]);
    assert.match(await page.locator('#result').innerText(), /counted: the request is now pending/);
    await api('POST', `/v1/approvals/${third.id}/approve`, 'user:alice', {});
    await page.locator('.badge.s-approved').waitFor();
    const log = await api('GET', `/v1/audit?executionId=${third.exe}`, 'agent:deploy-bot');
    const kinds = log.items.map((e) => e.kind);
    assert.equal(kinds.filter((k) => k === 'vote').length, 2, kinds.join());
    assert.deepEqual(kinds.filter((k) => k === 'vote_ignored' || k === 'vote_refused'), []);
  });
});

test('a form post without the session token is refused, even from the inbox page itself', async () => {
  const { id } = await approval({ title: 'Grant admin to the bot', approvers: ['user:adam'] });
  await withBrowser(async (page) => {
    await signIn(page, 'user:adam');
    await page.goto(`${base}/approvals/${id}`);
    const status = await page.evaluate(async (path) => {
      const r = await fetch(path, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'choice=approve&comment=forged',
      });
      return r.status;
    }, `/approvals/${id}`);
    assert.equal(status, 403);
  });
  const a = await api('GET', `/v1/approvals/${id}`, 'agent:deploy-bot');
  assert.equal(a.status, 'pending');
  assert.deepEqual(a.approvedBy, []);
});

test('screenshots of the inbox list and of a request page', async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  // The inbox as an approver sees it on a working day (Carol is asked by no other test): a
  // chain, a call the policy escalated, a code review.
  const chainExe = await running('release 2.0');
  const chain = await api('POST', `/v1/executions/${chainExe}/approvals`, 'agent:deploy-bot', {
    title: 'Release 2.0 to all regions',
    description: 'All checks green. Canary in eu-west-1 held for 2 h without errors.',
    priority: 'critical',
    chain: [
      { step: 'Technical Review', approvers: ['user:carol', 'user:alice'], timeout: 3600000 },
      { step: 'Manager Approval', approvers: ['user:root'], timeout: 7200000 },
    ],
  }, 201);
  const boundExe = await running('export');
  const bound = await api('POST', `/v1/executions/${boundExe}/escalation-check`, 'agent:deploy-bot', {
    action: 'export',
    resource: 'customers/eu',
    confidence: 0.31,
    context: { rows: 18234, destination: 's3://analytics-share', reason: 'quarterly report' },
  });
  assert.equal(bound.approved, false);
  const reviewExe = await running('codegen');
  await api('POST', `/v1/executions/${reviewExe}/feedback`, 'agent:deploy-bot', {
    title: 'Review Generated Code',
    reviewers: ['user:carol'],
    artifacts: [{ type: 'code', content: 'export const x = 1;', language: 'typescript' }],
    form: { fields: [{ name: 'quality', type: 'rating', label: 'Code Quality', min: 1, max: 5 }] },
    timeout: 86400000,
  }, 201);
  await withBrowser(async (page) => {
    await signIn(page, 'user:carol');
    await page.locator(`article[data-id="${chain.id}"]`).waitFor();
    assert.equal(await page.locator('article').count(), 3);
    await page.screenshot({ path: join(SCREENSHOTS, 'inbox-list.png'), fullPage: true });
  });
  await withBrowser(async (page) => {
    await signIn(page, 'user:carol');
    await page.goto(`${base}/approvals/${bound.approvalId}`);
    await page.locator('#call').waitFor();
    await page.screenshot({ path: join(SCREENSHOTS, 'inbox-request.png'), fullPage: true });
  }, { width: 390, height: 844 });
});
