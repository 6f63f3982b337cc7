// The real `rekall-policy serve` for the tests: a temp folder, a fresh SQLite store, the seed
// policy, and one token per principal. The binary is `REKALL_BINARY`, else the repository's
// `target/debug/rekall-policy` (CI builds it first).
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../../../', import.meta.url));
export const BINARY = process.env['REKALL_BINARY'] || join(ROOT, 'target/debug/rekall-policy');

export const PRINCIPALS: Record<string, 'agent' | 'approver' | 'admin'> = {
  'agent:deploy-bot': 'agent',
  'agent:other-bot': 'agent',
  'user:adam': 'approver',
  'user:alice': 'approver',
  'user:bob': 'approver',
  'user:carol': 'approver',
  'user:root': 'admin',
};

export const token = (principal: string): string => `tok-${principal}-${createHash('sha256').update(principal).digest('hex').slice(0, 12)}`;
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

export class Server {
  readonly dir: string;
  private child: ChildProcess | undefined;
  private log: string[] = [];
  baseUrl = '';

  private constructor(dir: string) {
    this.dir = dir;
  }

  static async start(): Promise<Server> {
    const dir = mkdtempSync(join(tmpdir(), 'rekall-ts-'));
    const lines = [
      `store: sqlite://${join(dir, 'rekall.db')}`,
      `policy: ${join(ROOT, 'policies/seed.yaml')}`,
      // The seed policy notifies by email and Slack; these tests answer through the client.
      'logChannels: [email, slack]',
      'agents:',
      '  "agent:deploy-bot": {mayTightenPolicy: true}',
      'tokens:',
      ...Object.entries(PRINCIPALS).map(
        ([p, role]) => `  - {principal: "${p}", role: ${role}, sha256: "${sha256(token(p))}"}`,
      ),
    ];
    writeFileSync(join(dir, 'rekall-server.yaml'), lines.join('\n') + '\n');
    const server = new Server(dir);
    await server.spawn('127.0.0.1:0');
    return server;
  }

  get address(): string {
    return this.baseUrl.replace(/^http:\/\//, '');
  }

  private async spawn(listen: string): Promise<void> {
    const child = spawn(BINARY, ['serve', '--config', join(this.dir, 'rekall-server.yaml'), '--listen', listen], {
      cwd: this.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    createInterface({ input: child.stderr! }).on('line', (line) => this.log.push(line));
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`the server ended (${code}):\n${this.log.join('\n')}`))),
    );
    const listening = new Promise<string>((resolve) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const match = /http:\/\/[0-9.:]+/.exec(line);
        if (match) resolve(match[0]);
      });
    });
    this.baseUrl = await Promise.race([listening, exited]);
    exited.catch(() => undefined);
    for (let i = 0; ; i++) {
      const r = await fetch(`${this.baseUrl}/readyz`).catch(() => null);
      if (r?.ok) break;
      if (i > 100) throw new Error('the server never became ready');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** SIGKILL: no graceful stop, nothing flushed beyond what was committed. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await gone;
  }

  /** Starts again on the same store and the same port. */
  async restart(): Promise<void> {
    const address = this.address;
    for (let i = 0; ; i++) {
      try {
        await this.spawn(address);
        return;
      } catch (error) {
        // The port may take a moment to be free again.
        if (i > 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await gone;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  serverLog(): string {
    return this.log.join('\n');
  }
}

/** Polls `probe` until it gives a value, or fails after `tries` attempts. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, tries = 300): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`never happened: ${what}`);
}
