// The LangChain.js tools of `intentrail/langchain`, built over the `@langchain/core` copy the
// entry point loaded (langchain.js: its CommonJS build, langchain.mjs: its ES module build),
// so the tools are of the same copy as the application's LangGraph.
//
// Each action is a `StructuredTool` named by `toolName` (`money.refund` → `money_refund`)
// whose `schema` is the rail's own JSON Schema. LangChain does not validate the model's input
// against it: the rail does, and the model reads the rail's violations. A call takes the
// governed path (`rail.callTool`) with the tool call's id as the idempotency key, so a call
// sent again never runs twice. Invoked with a tool call (as LangGraph's `ToolNode` does), the
// tool answers a `ToolMessage`: `result.forModel()` with status `success`, or for a refusal the
// error's text (`e.message`) with status `error`, so a refusal never ends the graph. Invoked
// with plain args, it answers the same text. As the tool replaces StructuredTool's `invoke`,
// LangChain's tool callbacks (handleToolStart/End) do not run for it; the rail's receipts
// record every call.
'use strict';

const { IntentRailError } = require('./index.js');

/** A LangChain tool call (what `ToolNode` invokes a tool with). */
const isToolCall = (x) => x !== null && typeof x === 'object' && x.type === 'tool_call';

/** `langchainTools` over one copy of `@langchain/core` (its `StructuredTool`, `ToolMessage`). */
function langchainAdapter({ StructuredTool, ToolMessage }) {
  const RAIL = Symbol('rail');

  /** One governed action as a LangChain tool. */
  class GovernedTool extends StructuredTool {
    static lc_name() {
      return 'GovernedTool';
    }

    constructor(rail, def) {
      super({});
      this.name = def.name;
      this.description = def.description;
      this.schema = def.inputSchema;
      Object.defineProperty(this, RAIL, { value: rail });
    }

    /** Runs the call on the rail. Replaces StructuredTool's `invoke`, which would first
     * validate the input itself and answer the model its own words for a violation. */
    async invoke(input, config) {
      const call = isToolCall(input) ? input : null;
      const id = call ? call.id : config?.toolCall?.id;
      let content;
      let status = 'success';
      try {
        const args = call ? call.args : input;
        content = (await this[RAIL].callTool(this.name, args, { idempotencyKey: id || undefined })).forModel();
      } catch (e) {
        if (!(e instanceof IntentRailError)) throw e;
        content = e.message;
        status = 'error';
      }
      // Invoked with a tool call, the answer is a ToolMessage, so a refusal keeps its status
      // even for a call without an id (for which StructuredTool would answer the text).
      if (call === null && typeof id !== 'string') return content;
      return new ToolMessage({ content, status, tool_call_id: id ?? '', name: this.name });
    }

    /** StructuredTool's other entry (`call`) ends here. */
    _call(args, _runManager, config) {
      return this.invoke(args, config);
    }
  }

  /** Every action of the agent's catalog (or of `options.actions`, action names) as a
   * LangChain tool. The catalog is read now; call again after it changes. */
  async function langchainTools(rail, options = {}) {
    const defs = await rail.toolDefinitions({ format: 'mcp', actions: options.actions });
    return defs.map((def) => new GovernedTool(rail, def));
  }

  return { langchainTools };
}

module.exports = { langchainAdapter };
