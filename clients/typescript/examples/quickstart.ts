import Rekall from '@rekall/agent-sdk';

const rekall = new Rekall({ apiKey: process.env.REKALL_API_KEY!, agentId: 'deploy-bot-1', baseUrl: process.env.REKALL_URL! });

const execution = await rekall.execution.create({
  name: 'Deploy api@1.4.2 to production',
  config: { onFailure: 'pause' },
});
await rekall.execution.start({ executionId: execution.id });
await rekall.execution.checkpoint({ executionId: execution.id, step: 1, message: 'Tests passed' });
const approval = await rekall.execution.requestApproval({   // returns once adam has answered
  executionId: execution.id,
  title: 'Production Deployment Approval',
  approvers: ['user:adam'],
  timeout: 3600000,
  notifyVia: ['email', 'slack'],
});
await rekall.execution.complete({ executionId: execution.id, result: approval.status === 'approved'
  ? { deployedBy: approval.approvedBy } : { status: 'rejected', reason: approval.reason } });
