import { RekallError } from './errors.js';
import type { Form, FormData, FormField } from './forms.js';
import { Transport, type CallOptions, type RetryOptions } from './transport.js';
import type {
  Approval,
  Artifact,
  ChainStepRequest,
  Checkpoint,
  Decision,
  Duration,
  EscalationRule,
  Execution,
  ExecutionConfig,
  ExecutionStatus,
  FeedbackStatus,
  HitlRule,
  Memory,
  Page,
  PolicyVersion,
  Priority,
  Receipt,
} from './types.js';

export * from './errors.js';
export * from './forms.js';
export * from './types.js';
export { parseRetryAfter, type CallOptions, type RetryOptions } from './transport.js';

export interface RekallOptions {
  /** The bearer token: an agent's for the agent side, an approver's or admin's for the other. */
  apiKey: string;
  /** The server, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** This agent instance's name, sent as `X-Rekall-Agent` and kept in the audit log. */
  agentId?: string;
  retry?: RetryOptions;
  /** How long one HTTP attempt may take before it is retried as a lost connection (default 30 s). */
  requestTimeoutMs?: number;
  fetch?: typeof fetch;
}

/** How a wait for a person ends early: an abort, or a client-side deadline. */
export interface WaitOptions extends CallOptions {
  /** Milliseconds from the call after which it fails with `RekallDeadlineError`. */
  timeoutMs?: number;
  /** The server-side long-poll of each `GET` (default and at most 30 s). */
  pollMs?: number;
}

export interface Feedback<D = Record<string, unknown>> {
  id: string;
  executionId: string;
  title: string;
  description: string;
  artifacts: Artifact[];
  form: { fields: FormField[] };
  reviewers: string[];
  notifyVia: string[];
  status: FeedbackStatus;
  /** The answers by field name (an empty object until answered). */
  data: D;
  submittedBy?: string | null;
  requestedBy: string;
  timeout?: number | null;
  deadline?: number | null;
  createdAt: number;
  resolvedAt?: number | null;
}

export interface ExecutionRef {
  executionId: string;
}

export interface RequestApprovalParams extends ExecutionRef {
  title: string;
  description?: string;
  approvers?: string[];
  minApprovals?: number;
  timeout?: Duration;
  notifyVia?: string[];
  priority?: Priority;
  chain?: ChainStepRequest[];
}

export interface RequestFeedbackParams<Fields extends readonly FormField[]> extends ExecutionRef {
  title: string;
  description?: string;
  artifacts?: Artifact[];
  form: Form<Fields>;
  reviewers?: string[];
  notifyVia?: string[];
  timeout?: Duration;
}

export interface CheckEscalationParams extends ExecutionRef {
  action: string;
  resource?: string;
  confidence?: number;
  context?: Record<string, unknown>;
}

const DEFAULT_POLL_MS = 30_000;

function pathId(id: string): string {
  if (typeof id !== 'string' || id === '') throw new TypeError('Rekall: an id is required');
  return encodeURIComponent(id);
}

function withoutExecutionId<T extends ExecutionRef>(params: T): Omit<T, 'executionId'> {
  const { executionId: _ignored, ...rest } = params;
  return rest;
}

/**
 * Waits for a request to leave `pending` by long-polling `GET path?wait=`: each poll parks on
 * the server until the request is resolved or the poll ends, and every lost connection, restart
 * or 5xx is retried, so the wait survives both; only the signal or the deadline stop it.
 */
async function waitUntilResolved<T extends { status: string }>(
  transport: Transport,
  path: string,
  options: WaitOptions,
): Promise<T> {
  const deadline = options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs;
  let pollMs = Math.min(options.pollMs ?? DEFAULT_POLL_MS, DEFAULT_POLL_MS);
  for (;;) {
    const left = deadline === undefined ? pollMs : Math.min(pollMs, deadline - Date.now());
    const seconds = Math.max(1, Math.ceil(left / 1000));
    let current: T;
    try {
      current = await transport.request<T>({
        method: 'GET',
        path,
        query: { wait: `${seconds}s` },
        signal: options.signal,
        deadline,
        retryForever: true,
        extraTimeoutMs: seconds * 1000,
      });
    } catch (error) {
      // A server configured with a shorter `limits.maxWait` refuses the wait: poll shorter.
      if (error instanceof RekallError && error.status === 422 && error.field === 'wait' && seconds > 1) {
        pollMs = Math.max(1000, Math.floor((seconds * 1000) / 2));
        continue;
      }
      throw error;
    }
    if (current.status !== 'pending') return current;
  }
}

function asFeedback<D>(raw: Feedback<D | null>): Feedback<D> {
  return { ...raw, data: (raw.data ?? {}) as D };
}

class Executions {
  constructor(private readonly transport: Transport) {}

  create(params: { name: string; config?: ExecutionConfig }, options: CallOptions = {}): Promise<Execution> {
    return this.transport.request({ method: 'POST', path: '/v1/executions', body: params, ...options });
  }

  get(params: ExecutionRef, options: CallOptions = {}): Promise<Execution> {
    return this.transport.request({ method: 'GET', path: `/v1/executions/${pathId(params.executionId)}`, ...options });
  }

  list(params: { status?: ExecutionStatus; cursor?: string; limit?: number } = {}, options: CallOptions = {}): Promise<Page<Execution>> {
    return this.transport.request({ method: 'GET', path: '/v1/executions', query: { ...params }, ...options });
  }

  start(params: ExecutionRef, options: CallOptions = {}): Promise<Execution> {
    return this.transition(params.executionId, 'start', {}, options);
  }

  pause(params: ExecutionRef, options: CallOptions = {}): Promise<Execution> {
    return this.transition(params.executionId, 'pause', {}, options);
  }

  resume(params: ExecutionRef, options: CallOptions = {}): Promise<Execution> {
    return this.transition(params.executionId, 'resume', {}, options);
  }

  cancel(params: ExecutionRef & { reason?: string }, options: CallOptions = {}): Promise<Execution> {
    return this.transition(params.executionId, 'cancel', withoutExecutionId(params), options);
  }

  checkpoint(
    params: ExecutionRef & { step: number; state?: unknown; message?: string },
    options: CallOptions = {},
  ): Promise<Checkpoint> {
    return this.transition(params.executionId, 'checkpoint', withoutExecutionId(params), options);
  }

  complete(params: ExecutionRef & { result?: unknown }, options: CallOptions = {}): Promise<Execution> {
    return this.transition(params.executionId, 'complete', withoutExecutionId(params), options);
  }

  fail(params: ExecutionRef & { error: string }, options: CallOptions = {}): Promise<Execution> {
    return this.transition(params.executionId, 'fail', withoutExecutionId(params), options);
  }

  /** Asks the policy about one action; when not approved, the execution is paused on the approval it opened. */
  checkEscalation(params: CheckEscalationParams, options: CallOptions = {}): Promise<Decision> {
    return this.transition(params.executionId, 'escalation-check', withoutExecutionId(params), options);
  }

  /** Opens an approval request and returns at once, pending. */
  createApproval(params: RequestApprovalParams, options: CallOptions = {}): Promise<Approval> {
    return this.transition(params.executionId, 'approvals', withoutExecutionId(params), options);
  }

  /** Opens an approval request (the execution pauses on it) and returns once it is resolved. */
  async requestApproval(params: RequestApprovalParams, options: WaitOptions = {}): Promise<Approval> {
    const created = await this.createdOrFound(
      () => this.createApproval(params, options),
      params,
      (id) => this.transport.request<Approval>({ method: 'GET', path: `/v1/approvals/${pathId(id)}`, signal: options.signal }),
      options,
    );
    if (created.status !== 'pending') return created;
    return this.waitForApproval(created.id, options);
  }

  /**
   * A create whose server died after its effect but before keeping its answer leaves the
   * idempotency key answering 409 `conflict` for as long as the key is kept: the retry can
   * never get the first answer. The request exists, and the execution waits on it, so it is
   * found there: the one request the execution waits on with this title, else the conflict.
   */
  private async createdOrFound<T extends { id: string; title: string }>(
    create: () => Promise<T>,
    params: ExecutionRef & { title: string },
    read: (id: string) => Promise<T>,
    options: CallOptions,
  ): Promise<T> {
    try {
      return await create();
    } catch (error) {
      if (!(error instanceof RekallError) || error.status !== 409 || error.code !== 'conflict') throw error;
      const execution = await this.get(params, options);
      const candidates: T[] = [];
      for (const id of execution.waitingOn) {
        const request = await read(id).catch(() => undefined);
        if (request?.title === params.title) candidates.push(request);
      }
      if (candidates.length === 1) return candidates[0]!;
      throw error;
    }
  }

  /** Waits for an approval request to be approved, rejected, timed out or cancelled. */
  waitForApproval(approvalId: string, options: WaitOptions = {}): Promise<Approval> {
    return waitUntilResolved<Approval>(this.transport, `/v1/approvals/${pathId(approvalId)}`, options);
  }

  /** Opens a feedback request without waiting for it. */
  async createFeedback<const Fields extends readonly FormField[]>(
    params: RequestFeedbackParams<Fields>,
    options: CallOptions = {},
  ): Promise<Feedback<Partial<FormData<Fields>>>> {
    const raw = await this.transition<Feedback<Partial<FormData<Fields>> | null>>(
      params.executionId,
      'feedback',
      withoutExecutionId(params),
      options,
    );
    return asFeedback(raw);
  }

  /**
   * Opens a feedback request (the execution pauses on it) and returns the answers once given.
   * A request that ends unanswered (timed out, cancelled) rejects with a `RekallError` whose
   * code is `feedback_timed_out` or `feedback_cancelled`, since there is no `data` to read.
   */
  async requestFeedback<const Fields extends readonly FormField[]>(
    params: RequestFeedbackParams<Fields>,
    options: WaitOptions = {},
  ): Promise<Feedback<FormData<Fields>>> {
    const created = await this.createdOrFound(
      () => this.createFeedback(params, options),
      params,
      async (id) =>
        asFeedback(
          await this.transport.request<Feedback<Partial<FormData<Fields>> | null>>({
            method: 'GET',
            path: `/v1/feedback/${pathId(id)}`,
            signal: options.signal,
          }),
        ),
      options,
    );
    return this.waitForFeedback<FormData<Fields>>(created.id, options);
  }

  async waitForFeedback<D = Record<string, unknown>>(feedbackId: string, options: WaitOptions = {}): Promise<Feedback<D>> {
    const done = await waitUntilResolved<Feedback<D | null>>(this.transport, `/v1/feedback/${pathId(feedbackId)}`, options);
    if (done.status !== 'submitted') {
      throw new RekallError({
        status: 0,
        code: `feedback_${done.status}`,
        message: `the feedback request ${done.id} ended ${done.status.replace('_', ' ')} without an answer`,
      });
    }
    return asFeedback(done);
  }

  /** Replaces the policy's HITL rules (an agent: only with a stricter set, where the server allows it). */
  setHITLPolicy(params: { rules: HitlRule[] }, options: CallOptions = {}): Promise<PolicyVersion> {
    return this.transport.request({ method: 'PUT', path: '/v1/policy/hitl', body: params, ...options });
  }

  /** Replaces the policy's confidence bands. */
  setEscalationPolicy(params: { rules: EscalationRule[] }, options: CallOptions = {}): Promise<PolicyVersion> {
    return this.transport.request({ method: 'PUT', path: '/v1/policy/escalation', body: params, ...options });
  }

  private transition<T>(executionId: string, verb: string, body: unknown, options: CallOptions): Promise<T> {
    return this.transport.request({
      method: 'POST',
      path: `/v1/executions/${pathId(executionId)}/${verb}`,
      body,
      ...options,
    });
  }
}

/** The approver's side: the requests the caller may vote on, and its votes. */
class Approvals {
  constructor(private readonly transport: Transport) {}

  list(
    params: { status?: Approval['status']; executionId?: string; cursor?: string; limit?: number } = { status: 'pending' },
    options: CallOptions = {},
  ): Promise<Page<Approval>> {
    return this.transport.request({ method: 'GET', path: '/v1/approvals', query: { ...params }, ...options });
  }

  get(approvalId: string, options: CallOptions = {}): Promise<Approval> {
    return this.transport.request({ method: 'GET', path: `/v1/approvals/${pathId(approvalId)}`, ...options });
  }

  approve(approvalId: string, params: { comment?: string } = {}, options: CallOptions = {}): Promise<Receipt> {
    return this.transport.request({ method: 'POST', path: `/v1/approvals/${pathId(approvalId)}/approve`, body: params, ...options });
  }

  reject(approvalId: string, params: { reason?: string } = {}, options: CallOptions = {}): Promise<Receipt> {
    return this.transport.request({ method: 'POST', path: `/v1/approvals/${pathId(approvalId)}/reject`, body: params, ...options });
  }
}

/** The reviewer's side of feedback requests. */
class FeedbackRequests {
  constructor(private readonly transport: Transport) {}

  async list(
    params: { status?: FeedbackStatus; cursor?: string; limit?: number } = { status: 'pending' },
    options: CallOptions = {},
  ): Promise<Page<Feedback>> {
    const page = await this.transport.request<Page<Feedback<Record<string, unknown> | null>>>({
      method: 'GET',
      path: '/v1/feedback',
      query: { ...params },
      ...options,
    });
    return { items: page.items.map(asFeedback), nextCursor: page.nextCursor };
  }

  async get(feedbackId: string, options: CallOptions = {}): Promise<Feedback> {
    return asFeedback(
      await this.transport.request<Feedback<Record<string, unknown> | null>>({
        method: 'GET',
        path: `/v1/feedback/${pathId(feedbackId)}`,
        ...options,
      }),
    );
  }

  async submit(feedbackId: string, data: Record<string, unknown>, options: CallOptions = {}): Promise<Feedback> {
    return asFeedback(
      await this.transport.request<Feedback<Record<string, unknown> | null>>({
        method: 'POST',
        path: `/v1/feedback/${pathId(feedbackId)}/submit`,
        body: { data },
        ...options,
      }),
    );
  }
}

class Memories {
  constructor(private readonly transport: Transport) {}

  create(
    params: {
      type?: 'episodic' | string;
      content: string;
      executionId?: string;
      metadata?: { tags?: string[]; [key: string]: unknown };
      importance?: number;
    },
    options: CallOptions = {},
  ): Promise<Memory> {
    return this.transport.request({ method: 'POST', path: '/v1/memories', body: params, ...options });
  }

  list(params: { tag?: string; executionId?: string; cursor?: string; limit?: number } = {}, options: CallOptions = {}): Promise<Page<Memory>> {
    return this.transport.request({ method: 'GET', path: '/v1/memories', query: { ...params }, ...options });
  }
}

export interface AuditEntry {
  seq: number;
  at: number;
  kind: string;
  executionId: string | null;
  requestId: string | null;
  principal: string;
  detail: Record<string, unknown>;
}

class Audit {
  constructor(private readonly transport: Transport) {}

  /** An admin's, or an agent's for its own executions: entries oldest first, after `after`. */
  list(params: { executionId?: string; after?: number; limit?: number } = {}, options: CallOptions = {}): Promise<Page<AuditEntry>> {
    return this.transport.request({ method: 'GET', path: '/v1/audit', query: { ...params }, ...options });
  }
}

/** A client of `rekall-policy serve`: `rekall.execution.*`, `rekall.memories.*`, and the approver's side. */
export class Rekall {
  readonly execution: Executions;
  readonly approvals: Approvals;
  readonly feedback: FeedbackRequests;
  readonly memories: Memories;
  readonly audit: Audit;
  private readonly transport: Transport;

  constructor(options: RekallOptions) {
    const transport = new Transport(options);
    this.execution = new Executions(transport);
    this.approvals = new Approvals(transport);
    this.feedback = new FeedbackRequests(transport);
    this.memories = new Memories(transport);
    this.audit = new Audit(transport);
    this.transport = transport;
  }

  /** The policy's decision on one request, stateless (`POST /v1/decide`), for any role. */
  decide(params: { action: string; resource?: string; confidence?: number; context?: Record<string, unknown> }, options: CallOptions = {}): Promise<Record<string, unknown>> {
    return this.transport.request({ method: 'POST', path: '/v1/decide', body: params, ...options });
  }
}

export default Rekall;
