package dev.intentrail

import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.put

// Tool names: LLM tool-calling APIs accept names matching ^[A-Za-z0-9_-]{1,64}$, so an action
// name maps to a tool name by replacing every other character with `_` (`money.refund` →
// `money_refund`), as in the Python and Node SDKs. `Rail.toolDefinitions()` refuses a catalog
// where two actions would share a tool name, and `Rail.actionForTool()` maps back.

private val NOT_IN_TOOL_NAME = Regex("[^A-Za-z0-9_-]")

/** The tool name of an action (`money.refund` → `money_refund`); `invalid_request` when it
 * would not be 1 to 64 characters. */
fun toolName(action: String): String {
    val name = action.replace(NOT_IN_TOOL_NAME, "_")
    if (name.isEmpty() || name.length > 64) {
        throw localError("invalid_request", "action \"$action\" has no tool name of 1 to 64 characters")
    }
    return name
}

/**
 * An LLM tool definition of a governed action: [name] (see [toolName]), [description] and
 * [parameters] (the action's JSON Schema as the rail publishes it).
 */
data class ToolDefinition(
    /** The governed action (`money.refund`). */
    val action: String,
    /** The tool name (`money_refund`). */
    val name: String,
    /** What the tool does, for the model. */
    val description: String,
    /** The JSON Schema of the params. */
    val parameters: JsonObject,
) {
    /** The OpenAI chat-completions `tools[]` entry: `{type: "function", function: {name,
     * description, parameters}}`. */
    fun toOpenAi(): JsonObject = buildJsonObject {
        put("type", "function")
        put(
            "function",
            buildJsonObject {
                put("name", name)
                put("description", description)
                put("parameters", parameters)
            },
        )
    }

    /** The Anthropic Messages `tools[]` entry: `{name, description, input_schema}`. */
    fun toAnthropic(): JsonObject = buildJsonObject {
        put("name", name)
        put("description", description)
        put("input_schema", parameters)
    }

    companion object {
        /** The definition of [action] with an optional [description] and [schema] (`{"type":
         * "object"}` when none is given). */
        fun of(action: String, description: String? = null, schema: JsonObject? = null): ToolDefinition =
            ToolDefinition(
                action = action,
                name = toolName(action),
                description = description ?: "IntentRail governed action $action",
                parameters = schema ?: JsonObject(mapOf("type" to JsonPrimitive("object"))),
            )
    }
}
