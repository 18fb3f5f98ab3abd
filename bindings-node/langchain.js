// The agent's catalog as LangChain.js tools (`npm install @langchain/core`, v1; an optional
// peer dependency of `intentrail`), for LangGraph's `ToolNode` and `createReactAgent`:
//
//   const { langchainTools } = require('intentrail/langchain');
//   const agent = createReactAgent({ llm, tools: await langchainTools(rail) });
//
// This is the CommonJS entry, over @langchain/core's CommonJS build; `import` gets
// langchain.mjs, over its ES module build. The tools are in langchain-tools.js.
'use strict';

const { langchainAdapter } = require('./langchain-tools.js');

function load(name) {
  try {
    return require(name);
  } catch (e) {
    const err = new Error(`intentrail/langchain needs LangChain.js: npm install @langchain/core (${e.message})`);
    err.cause = e;
    throw err;
  }
}

module.exports = langchainAdapter({
  StructuredTool: load('@langchain/core/tools').StructuredTool,
  ToolMessage: load('@langchain/core/messages').ToolMessage,
});
