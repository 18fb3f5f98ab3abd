// Type-checked by __test__/types.test.js: `intentrail/langchain` as a CommonJS application
// uses it, with LangGraph's CommonJS build (langchain.d.ts).
import { Rail } from 'intentrail';
import { langchainTools } from 'intentrail/langchain';
import { createReactAgent } from '@langchain/langgraph/prebuilt';
import { FakeListChatModel } from '@langchain/core/utils/testing';

export async function agent(rail: Rail): Promise<number> {
  const graph = createReactAgent({ llm: new FakeListChatModel({ responses: ['done'] }), tools: await langchainTools(rail) });
  const { messages } = await graph.invoke({ messages: [{ role: 'user', content: 'Refund pay_1.' }] });
  return messages.length;
}
