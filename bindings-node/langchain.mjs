// The agent's catalog as LangChain.js tools: the ES module entry of `intentrail/langchain`,
// over @langchain/core's ES module build (see langchain.js and langchain-tools.js).
//
//   import { langchainTools } from 'intentrail/langchain';
//   const agent = createReactAgent({ llm, tools: await langchainTools(rail) });
import { StructuredTool } from '@langchain/core/tools';
import { ToolMessage } from '@langchain/core/messages';
import adapter from './langchain-tools.js';

export const { langchainTools } = adapter.langchainAdapter({ StructuredTool, ToolMessage });
