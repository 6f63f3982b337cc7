/** Timestamps are milliseconds since the Unix epoch; durations milliseconds, or a string such as `"1h"`. */
export type Duration = number | string;

export type ExecutionStatus = 'created' | 'running' | 'paused' | 'completed' | 'failed' | 'cancelled';
export type ApprovalStatus = 'pending' | 'approved' | 'rejected' | 'timed_out' | 'cancelled';
export type StepStatus = 'waiting' | 'pending' | 'approved' | 'rejected' | 'timed_out' | 'cancelled' | 'skipped';
export type FeedbackStatus = 'pending' | 'submitted' | 'timed_out' | 'cancelled';
export type Priority = 'low' | 'normal' | 'high' | 'critical';

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface ExecutionConfig {
  onFailure?: 'fail' | 'pause';
  checkpointInterval?: 'per-step' | Duration;
}

export interface Checkpoint {
  executionId: string;
  seq: number;
  step: number;
  state: unknown;
  message: string;
  at: number;
}

export interface Execution {
  id: string;
  name: string;
  status: ExecutionStatus;
  config: { onFailure: string; checkpointInterval?: unknown; [key: string]: unknown };
  agent: string;
  waitingOn: string[];
  checkpoint?: Checkpoint | null;
  pausedBy?: { by: string; error?: string } | null;
  result?: unknown;
  error?: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface ChainStepRequest {
  step: string;
  approvers: string[];
  minApprovals?: number;
  timeout?: Duration;
}

export interface ChainStep {
  name: string;
  status: StepStatus;
  approvers: string[];
  minApprovals: number;
  approvedBy: string[];
  deadline?: number | null;
}

export interface Approval {
  id: string;
  executionId: string;
  title: string;
  description: string;
  status: ApprovalStatus;
  approvedBy: string[];
  reason?: string | null;
  chain: boolean;
  chainStatus: ChainStep[];
  currentStep?: string | null;
  notifyVia: string[];
  priority?: Priority | string | null;
  requestedBy: string;
  deadline?: number | null;
  grantId?: string | null;
  call?: { action: string; resource: string; context?: unknown } | null;
  createdAt: number;
  resolvedAt?: number | null;
}

export interface Receipt {
  counted: boolean;
  status: ApprovalStatus;
  step: string;
  approvedBy: string[];
  reason?: string | null;
  approval: Approval;
}

export interface Artifact {
  type: string;
  content: string;
  language?: string;
  title?: string;
}

export interface Memory {
  id: string;
  type: string;
  content: string;
  executionId?: string | null;
  metadata: { tags?: string[]; createdBy?: string; [key: string]: unknown };
  importance: number;
  createdAt: number;
}

export interface Decision {
  approved: boolean;
  /** The policy's outcome: `auto-approve`, `notify-and-proceed`, `request-approval`, `escalate`, `deny`. */
  outcome: string;
  reason: string;
  /** The approval opened for it when not approved; the execution is paused on it. */
  approvalId?: string | null;
  grantId?: string | null;
  policyVersion: string;
  decision: Record<string, unknown>;
  audit?: boolean;
  threshold?: Record<string, unknown> | null;
}

export interface HitlRule {
  id?: string;
  action: string;
  resource?: string;
  requireApproval: boolean;
  approvers?: string[];
  minApprovals?: number;
  timeout?: Duration;
  notifyVia?: string[];
  [key: string]: unknown;
}

export interface EscalationRule {
  id?: string;
  confidenceRange: [number, number];
  action: 'auto-approve' | 'notify-and-proceed' | 'request-approval' | 'escalate' | 'deny' | string;
  approvers?: string[];
  notifyVia?: string[];
  timeout?: Duration;
  priority?: Priority | string;
  [key: string]: unknown;
}

/** A stored policy version, as `PUT /v1/policy...` answers it. */
export interface PolicyVersion {
  version: number | string;
  name?: string;
  language?: string;
  text?: string;
  sha256?: string;
  [key: string]: unknown;
}
