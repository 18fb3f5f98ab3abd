// Type-checked by __test__/types.test.js (tsc --strict, module nodenext, LangChain.js
// installed): `intentrail/langchain` as an ES module application uses it, with LangGraph's ES
// module build (the tools are of the same @langchain/core copy, langchain.d.mts).
import { Rail } from 'intentrail';
import { langchainTools } from 'intentrail/langchain';
import { createReactAgent } from '@langchain/langgraph/prebuilt';
import { FakeListChatModel } from '@langchain/core/utils/testing';
import type { StructuredTool } from '@langchain/core/tools';

export async function agent(rail: Rail): Promise<number> {
  const tools: StructuredTool[] = await langchainTools(rail, { actions: ['money.refund'] });
  const graph = createReactAgent({ llm: new FakeListChatModel({ responses: ['done'] }), tools });
  const { messages } = await graph.invoke({ messages: [{ role: 'user', content: 'Refund pay_1.' }] });
  // @ts-expect-error: actions are action names
  await langchainTools(rail, { actions: 'money.refund' });
  return messages.length;
}
