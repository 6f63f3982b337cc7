// The product document's multi-approval chain: a technical review, then a manager's approval.
import Rekall from '@rekall/agent-sdk';
import { env } from './env.js';

const rekall = new Rekall({ apiKey: env('REKALL_API_KEY'), agentId: 'migrator-1', baseUrl: env('REKALL_URL') });

const execution = await rekall.execution.create({ name: 'Migrate legacy_users to users_v2' });
await rekall.execution.start({ executionId: execution.id });

const approval = await rekall.execution.requestApproval({
  executionId: execution.id,
  title: 'Database Schema Migration',
  description: 'Dropping the legacy_users table and migrating data to users_v2',
  chain: [
    { step: 'Technical Review', approvers: ['user:alice', 'user:bob'], minApprovals: 1, timeout: 3600000 },
    { step: 'Manager Approval', approvers: ['user:carol'], minApprovals: 1, timeout: 7200000 },
  ],
  notifyVia: ['email', 'slack'],
});
// The execution pauses until all chain steps are approved.
// Each step notifies the next group when the previous is approved.
console.log(`Approval status: ${approval.status}`);
for (const step of approval.chainStatus) {
  console.log(` ${step.name}: ${step.status} (${step.approvedBy?.join(', ') || 'pending'})`);
}

await rekall.execution.complete({ executionId: execution.id, result: { migration: approval.status } });
