// The product document's single approval gate. Run: REKALL_URL=... REKALL_API_KEY=<agent token>
//   node dist/examples/deploy-to-production.js api 1.4.2
import Rekall from '@rekall/agent-sdk';
import { env } from './env.js';

const rekall = new Rekall({ apiKey: env('REKALL_API_KEY'), agentId: 'deploy-bot-1', baseUrl: env('REKALL_URL') });

// Stubbed helpers: this project gates the deploy, it does not perform it.
async function runTests(service: string): Promise<void> {
  console.log(`tests of ${service}: passed`);
}
async function buildImage(service: string, version: string): Promise<string> {
  return `registry.example.com/${service}:${version}`;
}
async function deploy(service: string, version: string, environment: string): Promise<void> {
  console.log(`deployed ${service}@${version} to ${environment}`);
}

async function deployToProduction(service: string, version: string) {
  const execution = await rekall.execution.create({
    name: `Deploy ${service}@${version} to production`,
    config: { onFailure: 'pause' },
  });
  await rekall.execution.start({ executionId: execution.id });

  await runTests(service);                                   // Step 1 (auto)
  await rekall.execution.checkpoint({ executionId: execution.id, step: 1, message: 'Tests passed' });

  const image = await buildImage(service, version);          // Step 2 (auto)
  await rekall.execution.checkpoint({ executionId: execution.id, step: 2, state: { image },
                                      message: 'Image built' });

  // Step 3: HITL - request approval before deploying. Execution is paused until resolved.
  const approval = await rekall.execution.requestApproval({
    executionId: execution.id,
    title: 'Production Deployment Approval',
    description: `Ready to deploy ${service}@${version} to production.\n\nTests: PASSED\nImage: ${image}`,
    approvers: ['user:adam'],
    timeout: 3600000,            // 1 hour to approve
    notifyVia: ['email', 'slack'],
  });

  if (approval.status === 'approved') {
    await deploy(service, version, 'production');            // Step 4 (approved by human)
    await rekall.execution.complete({ executionId: execution.id,
                                      result: { deployedBy: approval.approvedBy } });
  } else {                                                   // denied or timed out
    await rekall.execution.complete({ executionId: execution.id,
                                      result: { status: 'rejected', reason: approval.reason } });
  }
}

await deployToProduction(process.argv[2] ?? 'api', process.argv[3] ?? '1.4.2');
