// Type-checked by __test__/types.test.js (tsc --strict, module nodenext, the AI SDK installed):
// `intentrail/ai` as an ES module application uses it. `@ts-expect-error` lines prove the
// types are not `any`.
import { Rail } from 'intentrail';
import { aiTools } from 'intentrail/ai';
import { generateText, stepCountIs, type Tool } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';

export async function agent(rail: Rail): Promise<string> {
  const tools = await aiTools(rail);
  const refund: Tool<unknown, string> | undefined = (await aiTools(rail, { actions: ['money.refund'] })).money_refund;
  const { text, steps } = await generateText({
    model: new MockLanguageModelV4(),
    tools,
    stopWhen: stepCountIs(5),
    prompt: 'Refund pay_1.',
  });
  void [refund, steps.length];
  // @ts-expect-error: the rail is a Rail
  await aiTools({ url: 'http://127.0.0.1:8080' });
  // @ts-expect-error: actions are action names
  await aiTools(rail, { actions: 'money.refund' });
  return text;
}
