// The product document's structured feedback form, and a low rating kept as an episodic memory.
import Rekall from '@rekall/agent-sdk';
import { env } from './env.js';

const rekall = new Rekall({ apiKey: env('REKALL_API_KEY'), agentId: 'codegen-1', baseUrl: env('REKALL_URL') });

// Stubbed: the code an agent generated.
const generatedCode = `export function authenticate(token: string) {\n  return token === process.env.SECRET;\n}\n`;

const execution = await rekall.execution.create({ name: 'Generate the authentication module' });
await rekall.execution.start({ executionId: execution.id });

const feedback = await rekall.execution.requestFeedback({
  executionId: execution.id,
  title: 'Review Generated Code',
  description: 'Please review the generated authentication module',
  artifacts: [{ type: 'code', content: generatedCode, language: 'typescript' }],
  form: {
    fields: [
      { name: 'quality', type: 'rating', label: 'Code Quality', min: 1, max: 5 },
      { name: 'issues', type: 'multiselect', label: 'Issues Found',
        options: ['Missing error handling', 'Security concern', 'Performance issue',
                  'Style mismatch', 'Logic error', 'No issues'] },
      { name: 'comments', type: 'text', label: 'Additional Comments', required: false },
    ],
  },
  timeout: 86400000, // 24 hours
});
if (feedback.data.quality < 3) {
  // Store feedback as an episodic memory for learning
  await rekall.memories.create({
    type: 'episodic',
    content: `Code generation feedback: quality ${feedback.data.quality}/5. Issues: ${feedback.data.issues.join(', ')}. ${feedback.data.comments || ''}`,
    metadata: { tags: ['feedback', 'code-generation'] },
    importance: 0.8,
  });
}

await rekall.execution.complete({ executionId: execution.id, result: { quality: feedback.data.quality } });
