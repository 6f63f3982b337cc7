// The product document's HITL policy, confidence bands and processTask with checkEscalation.
// Run with the task's action and the agent's confidence: node dist/examples/process-task.js deploy 0.5
import Rekall from '@rekall/agent-sdk';
import { env } from './env.js';

const rekall = new Rekall({ apiKey: env('REKALL_API_KEY'), agentId: 'worker-1', baseUrl: env('REKALL_URL') });

const hitlPolicy = await rekall.execution.setHITLPolicy({
  rules: [
    { action: 'delete', resource: '*', requireApproval: true, approvers: ['user:adam'] },
    { action: 'deploy', resource: 'production', requireApproval: true,
      approvers: ['user:adam', 'user:alice'], minApprovals: 1 },
    { action: '*', resource: '*', requireApproval: false }, // everything else auto-approved
  ],
});

const policy = await rekall.execution.setEscalationPolicy({
  rules: [
    { confidenceRange: [0.9, 1.0], action: 'auto-approve' },
    { confidenceRange: [0.7, 0.9], action: 'notify-and-proceed', notifyVia: ['slack'] },
    { confidenceRange: [0.4, 0.7], action: 'request-approval', approvers: ['user:adam'], timeout: 3600000 },
    { confidenceRange: [0.0, 0.4], action: 'escalate', approvers: ['user:carol'],
      notifyVia: ['email', 'slack'], priority: 'high' },
  ],
});
console.log(`policy versions: ${hitlPolicy.version}, ${policy.version}`);

// Stubbed: the agent's task, its confidence and its action.
interface Task {
  action: string;
  confidence: number;
}
async function evaluateConfidence(task: Task): Promise<number> {
  return task.confidence;
}
async function executeAction(task: Task): Promise<void> {
  console.log(`executed ${task.action}`);
}

const execution = await rekall.execution.create({ name: 'Process the task queue' });
await rekall.execution.start({ executionId: execution.id });

async function processTask(task: Task) {
  const confidence = await evaluateConfidence(task);
  const decision = await rekall.execution.checkEscalation({
    executionId: execution.id,
    action: task.action,
    confidence,
    context: {
      reasoning: 'Based on 3 similar past tasks, 2 succeeded with this approach',
      alternatives: ['Alternative A', 'Alternative B'],
    },
  });
  if (decision.approved) {
    await executeAction(task);
  } else {
    console.log(`Escalated: ${decision.reason}`); // execution is paused, waiting for a human
  }
}

await processTask({ action: process.argv[2] ?? 'summarize', confidence: Number(process.argv[3] ?? '0.95') });
console.log(`execution: ${execution.id}`);
