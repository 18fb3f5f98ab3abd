// Type-checked by __test__/types.test.js with `tsc --noEmit --strict`: the package's public
// types, used the way an agent would. `@ts-expect-error` lines prove the types are not `any`.
import {
  Rail,
  governed,
  PolicyDenied,
  SchemaInvalid,
  ApprovalPending,
  IntentRailError,
  canonicalize,
  payloadHash,
  verifyPermit,
  verifyReceipts,
  type Result,
  type ToolDefinition,
  type AnthropicToolDefinition,
  type McpToolDefinition,
  type PermitClaims,
} from 'intentrail';

interface RefundParams {
  payment_id: string;
  amount: number;
  currency: string;
  reason?: string;
}

interface RefundBody {
  id: string;
  status: string;
}

export async function agent(): Promise<number> {
  const rail = new Rail({ url: 'http://127.0.0.1:8080', apiKey: 'ir_x', agentId: 'refund-bot', timeoutMs: 5000 });
  const fromEnv: Rail = Rail.fromEnv();
  const refund = governed<RefundParams, RefundBody>(rail, 'money.refund', {
    description: 'Refund a payment.',
    schema: { type: 'object' },
    idempotencyKey: (p) => `refund-${p.payment_id}`,
  });
  const def: ToolDefinition = refund.toolDefinition;
  const name: string = def.function.name + refund.actionName + refund.toolName;
  try {
    const r: Result<RefundBody> = await refund({ payment_id: 'pay_1', amount: 500, currency: 'usd' });
    const id: string = r.body.id;
    const ok: boolean = r.ok;
    const receiptId: string | null = r.receiptId;
    void [id, ok, receiptId, name];
  } catch (e) {
    if (e instanceof PolicyDenied) {
      const ids: string[] = e.policyIds;
      const rid: string | null = e.receiptId;
      void [ids, rid];
    } else if (e instanceof SchemaInvalid) {
      const fields: string[] = e.fields;
      void fields;
    } else if (e instanceof ApprovalPending) {
      const aid: string | null = e.approvalId;
      void aid;
    } else if (e instanceof IntentRailError) {
      const code: string = e.code;
      const status: number | null = e.status;
      void [code, status];
    }
  }
  const permit = await rail.intent('money.refund', { payment_id: 'p', amount: 1, currency: 'usd' });
  const claims: PermitClaims = permit.claims;
  const executed = await rail.execute(permit, { payment_id: 'p', amount: 1, currency: 'usd' });
  const tools: ToolDefinition[] = await rail.toolDefinitions();
  const anthropic: AnthropicToolDefinition[] = await rail.toolDefinitions({ format: 'anthropic' });
  const mcp: McpToolDefinition[] = await rail.toolDefinitions({ format: 'mcp' });
  // @ts-expect-error: an MCP tool has no OpenAI `function` member
  void mcp[0].function;
  void anthropic;
  const forModel: string = executed.forModel();
  void forModel;
  const action: string | null = rail.actionForTool('money_refund');
  await rail.callTool('money_refund', '{"payment_id":"p","amount":1,"currency":"usd"}');
  // A model's arguments, as a framework hands them over: of unknown type.
  const modelArgs: unknown = JSON.parse('{"payment_id":"p","amount":1,"currency":"usd"}');
  const called: Result<RefundBody> = await rail.callTool<RefundBody>('money_refund', modelArgs, { idempotencyKey: 'call_1' });
  const chosen: McpToolDefinition[] = await rail.toolDefinitions({ format: 'mcp', actions: ['money.refund'] });
  const fromCatalog = await rail.governedTool<RefundParams, RefundBody>('money.refund', {
    idempotencyKey: (p) => `refund-${p.payment_id}`,
  });
  const catalogSchema: Record<string, unknown> | null = fromCatalog.schema;
  const refunded: Result<RefundBody> = await fromCatalog({ payment_id: 'p', amount: 1, currency: 'usd' });
  void [called, chosen, catalogSchema, refunded];
  const bytes: Uint8Array = canonicalize({ b: 1, a: [true, null] });
  const hash: string = payloadHash({ amount: 1 });
  const agentInfo = await rail.agent();
  const verified: PermitClaims = verifyPermit(permit.token, await rail.jwks(), {
    audience: agentInfo.audience,
    issuer: agentInfo.issuer,
  });
  const page = await rail.receipts({ after: 0, limit: 10 });
  const report = verifyReceipts(page.receipts, await rail.jwks());
  const count: number = report.count + report.lastSeq;
  void [fromEnv, claims, executed, tools, action, bytes, hash, verified, count];

  // @ts-expect-error: the options object is required
  new Rail();
  // @ts-expect-error: apiKey is required
  new Rail({ url: 'http://x', agentId: 'a' });
  // @ts-expect-error: params must match the governed function's type
  await refund({ payment_id: 1 });
  // @ts-expect-error: the catalog form takes no hand-written schema
  await rail.governedTool('money.refund', { schema: { type: 'object' } });
  // @ts-expect-error: actions are action names
  await rail.toolDefinitions({ actions: 'money.refund' });
  // @ts-expect-error: policyIds is a string array
  const wrong: number = new PolicyDenied('policy_denied', 'x').policyIds;
  void wrong;
  return 0;
}
