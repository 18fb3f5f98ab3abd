// Types of `intentrail/langchain` for `import` (langchain.mjs): as langchain.d.ts, with the
// tools of @langchain/core's ES module build.
import type { StructuredTool } from '@langchain/core/tools';
import type { ActionSelection, Rail } from './index.js';

/** Every action of the agent's catalog (or of `options.actions`) as a LangChain tool (see
 * langchain.d.ts). */
export function langchainTools(rail: Rail, options?: ActionSelection): Promise<StructuredTool[]>;
