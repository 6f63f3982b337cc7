/** One diagnostic of a refused policy, as the server locates it. */
export interface Diagnostic {
  file: string;
  line: number;
  column: number;
  endLine?: number;
  endColumn?: number;
  code?: string;
  message: string;
  help?: string | null;
}

/**
 * Every failure of a call: `status` is the HTTP status (0 when no answer came at all),
 * `code` the server's snake_case code (`unauthenticated`, `forbidden`, `invalid_field`, ...),
 * `field` the JSON path of the field at fault when one is.
 */
export class RekallError extends Error {
  override readonly name: string = 'RekallError';
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;
  readonly requestId: string | undefined;
  readonly diagnostics: Diagnostic[] | undefined;
  /** The error's whole `error` object, for codes that carry more (`counterExample`). */
  readonly body: Record<string, unknown> | undefined;

  constructor(init: {
    status: number;
    code: string;
    message: string;
    field?: string | undefined;
    requestId?: string | undefined;
    diagnostics?: Diagnostic[] | undefined;
    body?: Record<string, unknown> | undefined;
    cause?: unknown;
  }) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.code = init.code;
    this.field = init.field;
    this.requestId = init.requestId;
    this.diagnostics = init.diagnostics;
    this.body = init.body;
  }
}

/** No answer from the server after every retry: refused or dropped connections, timeouts. */
export class RekallConnectionError extends RekallError {
  override readonly name = 'RekallConnectionError';
}

/** The client-side deadline of a wait (`requestApproval`, `requestFeedback`) passed first. */
export class RekallDeadlineError extends RekallError {
  override readonly name = 'RekallDeadlineError';
}

/** The error of an answer that is not a success, from its status and its JSON body. */
export function errorFromAnswer(status: number, text: string, requestId: string | undefined): RekallError {
  let detail: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (isObject(parsed) && isObject(parsed['error'])) detail = parsed['error'];
  } catch {
    // Not JSON (a proxy's page): the status alone says what happened.
  }
  const code = typeof detail?.['code'] === 'string' ? detail['code'] : `http_${status}`;
  const message =
    typeof detail?.['message'] === 'string' ? detail['message'] : `the server answered ${status}: ${text.slice(0, 200)}`;
  const field = typeof detail?.['field'] === 'string' ? detail['field'] : undefined;
  const diagnostics = Array.isArray(detail?.['diagnostics']) ? (detail['diagnostics'] as Diagnostic[]) : undefined;
  return new RekallError({ status, code, message, field, requestId, diagnostics, body: detail });
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
