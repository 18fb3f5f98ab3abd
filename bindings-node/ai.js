// The agent's catalog as Vercel AI SDK tools (`npm install ai`, v7; an optional peer
// dependency of `intentrail`):
//
//   const { aiTools } = require('intentrail/ai');   // or: import { aiTools } from 'intentrail/ai'
//   const { text } = await generateText({ model, tools: await aiTools(rail), stopWhen: stepCountIs(5), prompt });
//
// Each action is a tool named by `toolName` (`money.refund` → `money_refund`) whose input
// schema is the rail's own JSON Schema, not validated by the AI SDK: the rail validates it, and
// the model reads the rail's violations. A call takes the governed path (`rail.callTool`) with
// the AI SDK's tool call id as the idempotency key, so a call sent again never runs twice. The
// model reads `result.forModel()` for a result. A refusal is thrown: the AI SDK turns an error
// thrown by `execute` into a `tool-error` part (the error object, for the application) and
// sends the model its text, `${e.name}: ${e.message}`; the agent loop goes on.
'use strict';

/** The `ai` module (ESM only, hence `import()`), resolved from this package. */
async function loadAi() {
  try {
    return await import('ai');
  } catch (e) {
    const err = new Error(`intentrail/ai needs the Vercel AI SDK: npm install ai (${e.message})`);
    err.cause = e;
    throw err;
  }
}

/** Every action of the agent's catalog (or of `options.actions`, action names) as an AI SDK
 * tool, keyed by tool name: `generateText({ tools: await aiTools(rail), … })`. The catalog is
 * read now; call again after it changes. */
async function aiTools(rail, options = {}) {
  const { dynamicTool, jsonSchema } = await loadAi();
  const tools = {};
  for (const def of await rail.toolDefinitions({ format: 'mcp', actions: options.actions })) {
    tools[def.name] = dynamicTool({
      description: def.description,
      inputSchema: jsonSchema(def.inputSchema),
      async execute(input, { toolCallId }) {
        return (await rail.callTool(def.name, input, { idempotencyKey: toolCallId })).forModel();
      },
    });
  }
  return tools;
}

exports.aiTools = aiTools;
