package dev.intentrail.springai

import dev.intentrail.ActionResult
import dev.intentrail.IntentRailException
import dev.intentrail.Rail
import dev.intentrail.ToolDefinition
import kotlinx.coroutines.runBlocking
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.put
import org.springframework.ai.tool.ToolCallback
import org.springframework.ai.tool.ToolCallbackProvider
import org.springframework.ai.tool.execution.ToolExecutionException
import org.springframework.ai.tool.definition.ToolDefinition as SpringToolDefinition

// Spring AI adapter: the rail's catalog as Spring AI tool callbacks. Spring AI calls a tool
// synchronously (`ToolCallback.call` on the thread that runs the chat); each call here is one
// governed action (`Rail.actJson` with the model's arguments text, parsed strictly by the core).
// Needs `org.springframework.ai:spring-ai-model` on the classpath (an optional dependency of
// this SDK: Spring AI applications have it).

/**
 * A Spring AI [ToolCallback] that performs the governed action [definition] names through
 * [rail]. The tool's answer to the model is `{"status", "body", "receipt_id"}` (JSON); a refusal
 * becomes a [ToolExecutionException] whose message is the error's text for a model (code,
 * detail, rules, violations, what calling again can do: [IntentRailException.message]; Spring
 * AI hands that message to the model by default), with the [IntentRailException] as its cause.
 */
class GovernedToolCallback(
    private val rail: Rail,
    /** The governed action and its tool definition. */
    val definition: ToolDefinition,
) : ToolCallback {
    private val springDefinition: SpringToolDefinition = SpringToolDefinition.builder()
        .name(definition.name)
        .description(definition.description)
        .inputSchema(definition.parameters.toString())
        .build()

    /** The Spring AI tool definition: name, description and the action's JSON Schema. */
    override fun getToolDefinition(): SpringToolDefinition = springDefinition

    /** Perform the governed action with the model's arguments ([toolInput], JSON text). */
    override fun call(toolInput: String): String {
        val result = try {
            runBlocking { rail.actJson(definition.action, toolInput) }
        } catch (e: IntentRailException) {
            throw ToolExecutionException(springDefinition, e)
        }
        return toolAnswer(result)
    }

    /** `GovernedToolCallback(money_refund → money.refund)`. */
    override fun toString(): String = "GovernedToolCallback(${definition.name} → ${definition.action})"
}

/** The JSON text a tool call answers the model with. */
internal fun toolAnswer(result: ActionResult): String = buildJsonObject {
    put("status", result.status)
    put("body", result.body)
    put("receipt_id", result.receiptId?.let { JsonPrimitive(it) } ?: JsonNull)
}.toString()

/** The catalog of [this] rail as Spring AI tool callbacks, one per action. */
suspend fun Rail.springAiToolCallbacks(): List<ToolCallback> =
    toolDefinitions().map { GovernedToolCallback(this, it) }

/**
 * A Spring AI [ToolCallbackProvider] over the rail's catalog (for `ChatClient.defaultToolCallbacks`
 * or a `@Bean`). The catalog is loaded at the first [getToolCallbacks] and kept; [refresh]
 * reloads it.
 */
class IntentRailToolCallbackProvider(private val rail: Rail) : ToolCallbackProvider {
    @Volatile
    private var callbacks: Array<ToolCallback>? = null

    /** The callbacks (loading the catalog once). */
    override fun getToolCallbacks(): Array<ToolCallback> =
        callbacks ?: refresh()

    /** Reload the catalog and return the new callbacks. */
    fun refresh(): Array<ToolCallback> =
        runBlocking { rail.springAiToolCallbacks() }.toTypedArray().also { callbacks = it }
}
