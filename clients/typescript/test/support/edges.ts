// Local servers on 127.0.0.1 standing in for the network between the client and the server:
// a scripted endpoint, and a proxy to the real server that can lose answers.
import { createServer, request as httpRequest, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

async function listen(server: HttpServer): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export interface Edge {
  baseUrl: string;
  seen: Seen[];
  close(): Promise<void>;
}

/** What the edge does with the n-th request (0-based): answer it, or drop the connection. */
export type Script = (n: number, seen: Seen, res: ServerResponse) => 'drop' | void | Promise<'drop' | void>;

/** A scripted HTTP endpoint. */
export async function scripted(script: Script): Promise<Edge> {
  const seen: Seen[] = [];
  const server = createServer(async (req, res) => {
    const entry = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: await readBody(req) };
    seen.push(entry);
    if ((await script(seen.length - 1, entry, res)) === 'drop') req.socket.destroy();
  });
  const baseUrl = await listen(server);
  return { baseUrl, seen, close: () => close(server) };
}

/**
 * A proxy to `upstream`. `lose(n, seen)` says whether the n-th request's answer is lost: the
 * request reaches the server and takes effect, then the connection is cut before the answer.
 */
export async function lossyProxy(upstream: string, lose: (n: number, seen: Seen) => boolean): Promise<Edge & { replayed: string[] }> {
  const seen: Seen[] = [];
  const replayed: string[] = [];
  const target = new URL(upstream);
  const server = createServer(async (req, res) => {
    const entry = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: await readBody(req) };
    const n = seen.push(entry) - 1;
    const forward = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      async (upstreamRes) => {
        const body = await readBody(upstreamRes);
        replayed.push(String(upstreamRes.headers['idempotent-replayed'] ?? ''));
        if (lose(n, entry)) {
          req.socket.destroy();
          return;
        }
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        res.end(body);
      },
    );
    forward.on('error', () => req.socket.destroy());
    forward.end(entry.body);
  });
  const baseUrl = await listen(server);
  return { baseUrl, seen, replayed, close: () => close(server) };
}

function close(server: HttpServer): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
