// The product document's code-review workflow: execution memory with a HITL review step.
// Run with a PR number: node dist/examples/code-review-workflow.js 42
import Rekall from '@rekall/agent-sdk';
import { env } from './env.js';

const rekall = new Rekall({ apiKey: env('REKALL_API_KEY'), agentId: 'reviewer-1', baseUrl: env('REKALL_URL') });

// Stubbed helpers: a static analysis that finds one critical issue, and a PR review poster.
interface Issue {
  title: string;
  severity: 'critical' | 'minor';
  codeSnippet: string;
}
async function analyzeCode(prNumber: number): Promise<{ issues: Issue[] }> {
  return {
    issues: [
      { title: `SQL built from input (PR #${prNumber})`, severity: 'critical', codeSnippet: 'db.query("SELECT * FROM t WHERE id=" + id)' },
      { title: 'Long function', severity: 'minor', codeSnippet: 'function handle() { /* 200 lines */ }' },
    ],
  };
}
async function postReview(prNumber: number, event: 'changes_requested' | 'comment', body: string | undefined): Promise<void> {
  console.log(`PR #${prNumber}: ${event}: ${body ?? ''}`);
}
function formatReview(analysis: { issues: Issue[] }): string {
  return analysis.issues.map((issue) => `- ${issue.severity}: ${issue.title}`).join('\n');
}

async function codeReviewWorkflow(prNumber: number) {
  const execution = await rekall.execution.create({
    name: `Code review for PR #${prNumber}`,
    config: { checkpointInterval: 'per-step', onFailure: 'pause' },
  });
  await rekall.execution.start({ executionId: execution.id });

  const analysis = await analyzeCode(prNumber);                      // Step 1: automated
  await rekall.execution.checkpoint({ executionId: execution.id, step: 1, state: { analysis },
    message: `Analysis complete: ${analysis.issues.length} issues found` });

  const criticalIssues = analysis.issues.filter(i => i.severity === 'critical');
  if (criticalIssues.length > 0) {                                    // Step 2: HITL review
    const review = await rekall.execution.requestFeedback({
      executionId: execution.id,
      title: `Critical issues in PR #${prNumber}`,
      description: `Found ${criticalIssues.length} critical issues that need human review.`,
      artifacts: criticalIssues.map(issue => ({ type: 'code', content: issue.codeSnippet, title: issue.title })),
      form: { fields: [
        { name: 'action', type: 'select', label: 'Action',
          options: ['Block PR', 'Approve with comments', 'False positive'] },
        { name: 'comments', type: 'text', label: 'Review comments' },
      ] },
    });
    await rekall.execution.checkpoint({ executionId: execution.id, step: 2,
      state: { analysis, humanReview: review.data }, message: `Human review: ${review.data.action}` });
    if (review.data.action === 'Block PR') {
      await postReview(prNumber, 'changes_requested', review.data.comments);
      await rekall.execution.complete({ executionId: execution.id });
      return;
    }
  }
  await postReview(prNumber, 'comment', formatReview(analysis));     // Step 3
  await rekall.execution.complete({ executionId: execution.id,
    result: { issues: analysis.issues.length, criticalReviewed: criticalIssues.length } });
}

await codeReviewWorkflow(Number(process.argv[2] ?? '42'));
