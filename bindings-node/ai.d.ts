// Types of `intentrail/ai` (ai.js): the agent's catalog as Vercel AI SDK tools.
import type { Tool } from 'ai';
import type { ActionSelection, Rail } from './index.js';

/**
 * Every action of the agent's catalog (or of `options.actions`) as an AI SDK tool (a dynamic
 * tool: its input is known at run time), keyed by tool name (`money_refund`):
 * `generateText({ model, tools: await aiTools(rail), stopWhen: stepCountIs(5), prompt })`.
 *
 * The input schema is the rail's JSON Schema, validated by the rail, not by the AI SDK. A call
 * takes the governed path with the tool call id as idempotency key and answers
 * `result.forModel()` (`{"status","body","receipt_id"}`). A refusal is thrown: the AI SDK makes
 * it a `tool-error` part (the `IntentRailError`, for the application) and sends the model its
 * text, `PolicyDenied: policy_denied: denied by policy …`; the loop goes on.
 */
export function aiTools(rail: Rail, options?: ActionSelection): Promise<Record<string, Tool<unknown, string>>>;
