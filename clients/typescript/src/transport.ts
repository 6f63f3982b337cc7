import { randomUUID } from 'node:crypto';
import { RekallConnectionError, RekallDeadlineError, RekallError, errorFromAnswer } from './errors.js';

export interface RetryOptions {
  /** Retries after the first attempt (default 4). */
  maxRetries?: number;
  /** The first backoff, doubled on each retry (default 250 ms). */
  baseDelayMs?: number;
  /** The longest backoff, and the longest `Retry-After` honoured (default 30 s). */
  maxDelayMs?: number;
}

export interface TransportOptions {
  apiKey: string;
  baseUrl: string;
  agentId?: string | undefined;
  retry?: RetryOptions | undefined;
  /** How long one HTTP attempt may take before it counts as a lost connection (default 30 s). */
  requestTimeoutMs?: number | undefined;
  fetch?: typeof fetch | undefined;
}

export interface CallOptions {
  /** Stops the call (and its retries, and its wait) at once; the call rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
}

export interface RequestSpec extends CallOptions {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  query?: Record<string, string | number | undefined> | undefined;
  body?: unknown;
  /** Epoch milliseconds after which no attempt starts and the call fails with `RekallDeadlineError`. */
  deadline?: number | undefined;
  /** Retry without a limit of attempts until `deadline` (the long-poll of a wait). */
  retryForever?: boolean | undefined;
  /** Extra time an attempt is given beyond `requestTimeoutMs` (a long-poll's own wait). */
  extraTimeoutMs?: number | undefined;
}

/** Statuses after which the same request may succeed: rate limits and the server's own failures. */
function retriableStatus(status: number, code: string, retryAfter: number | undefined): boolean {
  if (status === 429 || status === 408 || status >= 500) return true;
  // The same idempotency key still running on the server: it says when to ask again.
  return status === 409 && code === 'conflict' && retryAfter !== undefined;
}

/** `Retry-After` in milliseconds: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted.', 'AbortError');
}

/** Sleeps `ms`, or rejects with the signal's reason when it aborts first. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class Transport {
  private readonly options: TransportOptions;
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;

  constructor(options: TransportOptions) {
    if (!options.apiKey) throw new TypeError('Rekall: apiKey is required');
    if (!options.baseUrl) throw new TypeError('Rekall: baseUrl is required');
    this.options = options;
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.fetchImpl = options.fetch ?? fetch;
  }

  /**
   * One logical call: a mutating one carries one `Idempotency-Key`, the same on every retry,
   * so that a retry after a lost answer gets the first answer instead of a second effect.
   */
  async request<T>(spec: RequestSpec): Promise<T> {
    const retry = this.options.retry ?? {};
    const maxRetries = spec.retryForever ? Infinity : (retry.maxRetries ?? 4);
    const baseDelay = retry.baseDelayMs ?? 250;
    // A wait asks again soon after a restart: its backoff stays short, its attempts unbounded.
    const maxDelay = spec.retryForever ? Math.min(retry.maxDelayMs ?? 2_000, 2_000) : (retry.maxDelayMs ?? 30_000);
    const url = this.url(spec.path, spec.query);
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.options.apiKey}`,
      accept: 'application/json',
    };
    if (this.options.agentId) headers['x-rekall-agent'] = this.options.agentId;
    let body: string | undefined;
    if (spec.method !== 'GET') {
      headers['idempotency-key'] = randomUUID();
      headers['content-type'] = 'application/json';
      body = JSON.stringify(spec.body ?? {});
    }

    for (let attempt = 0; ; attempt++) {
      if (spec.signal?.aborted) throw abortReason(spec.signal);
      if (spec.deadline !== undefined && Date.now() >= spec.deadline) {
        throw new RekallDeadlineError({
          status: 0,
          code: 'deadline_exceeded',
          message: `${spec.method} ${spec.path}: the client-side deadline passed`,
        });
      }
      let failure: RekallError;
      let retryAfter: number | undefined;
      try {
        const answer = await this.attempt(url, spec, headers, body);
        if (answer.ok) return parseAnswer<T>(answer.text, answer.status, answer.requestId, spec);
        retryAfter = parseRetryAfter(answer.retryAfter);
        failure = errorFromAnswer(answer.status, answer.text, answer.requestId);
        if (!retriableStatus(answer.status, failure.code, retryAfter)) throw failure;
      } catch (error) {
        if (error instanceof RekallError && !(error instanceof RekallConnectionError)) throw error;
        if (spec.signal?.aborted) throw abortReason(spec.signal);
        if (error instanceof RekallConnectionError) failure = error;
        else throw error;
      }
      if (attempt >= maxRetries) throw failure;
      const backoff = Math.min(maxDelay, baseDelay * 2 ** Math.min(attempt, 16));
      // Full jitter on our own backoff; the server's Retry-After is honoured as given.
      let delay = retryAfter !== undefined ? Math.min(retryAfter, maxDelay) : Math.random() * backoff;
      if (spec.deadline !== undefined) delay = Math.max(0, Math.min(delay, spec.deadline - Date.now()));
      await sleep(delay, spec.signal);
    }
  }

  private async attempt(
    url: string,
    spec: RequestSpec,
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<{ ok: boolean; status: number; text: string; retryAfter: string | null; requestId: string | undefined }> {
    const timeoutMs = (this.options.requestTimeoutMs ?? 30_000) + (spec.extraTimeoutMs ?? 0);
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = spec.signal ? AbortSignal.any([spec.signal, timeout]) : timeout;
    try {
      const response = await this.fetchImpl(url, { method: spec.method, headers, body, signal });
      const text = await response.text();
      return {
        ok: response.ok,
        status: response.status,
        text,
        retryAfter: response.headers.get('retry-after'),
        requestId: response.headers.get('x-request-id') ?? undefined,
      };
    } catch (error) {
      if (spec.signal?.aborted) throw abortReason(spec.signal);
      // A refused, reset or timed-out connection: no answer, so the same request may be sent again.
      throw new RekallConnectionError({
        status: 0,
        code: timeout.aborted ? 'timeout' : 'connection_error',
        message: `${spec.method} ${spec.path}: no answer from ${this.baseUrl} (${describe(error)})`,
        cause: error,
      });
    }
  }

  private url(path: string, query: RequestSpec['query']): string {
    const url = new URL(this.baseUrl + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url.toString();
  }
}

function parseAnswer<T>(text: string, status: number, requestId: string | undefined, spec: RequestSpec): T {
  if (text === '') return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new RekallError({
      status,
      code: 'bad_response',
      message: `${spec.method} ${spec.path}: the answer is not JSON: ${text.slice(0, 200)}`,
      requestId,
      cause: error,
    });
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}
