// Types of `intentrail/langchain` for `require` (langchain.js, over @langchain/core's CommonJS
// build); langchain.d.mts says the same for `import`, over its ES module build.
import type { StructuredTool } from '@langchain/core/tools';
import type { ActionSelection, Rail } from './index.js';

/**
 * Every action of the agent's catalog (or of `options.actions`) as a LangChain tool:
 * `createReactAgent({ llm, tools: await langchainTools(rail) })`.
 *
 * A tool's `name` is the tool name (`money_refund`), its `schema` the rail's JSON Schema
 * (validated by the rail, not by LangChain). Invoked with a tool call (as LangGraph's
 * `ToolNode` does), it answers a `ToolMessage` with the call's id: the result's `forModel()`
 * text with status `success`, or a refusal's text (`e.message`) with status `error`, never an
 * exception. The tool call id is the idempotency key. Invoked with plain args: the same text.
 */
export function langchainTools(rail: Rail, options?: ActionSelection): Promise<StructuredTool[]>;
