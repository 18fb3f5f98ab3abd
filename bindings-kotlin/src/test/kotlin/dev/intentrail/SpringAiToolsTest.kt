package dev.intentrail

import dev.intentrail.springai.GovernedToolCallback
import dev.intentrail.springai.IntentRailToolCallbackProvider
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.springframework.ai.chat.messages.AssistantMessage
import org.springframework.ai.chat.messages.ToolResponseMessage
import org.springframework.ai.chat.model.ChatResponse
import org.springframework.ai.chat.model.Generation
import org.springframework.ai.chat.prompt.Prompt
import org.springframework.ai.model.tool.DefaultToolCallingManager
import org.springframework.ai.model.tool.ToolCallingChatOptions
import org.springframework.ai.tool.execution.ToolExecutionException

/** The Spring AI adapter, driven by Spring AI's own tool-calling manager with the tool calls a
 * model would send (no model needed: the assistant message is built here). */
class SpringAiToolsTest {
    private val demo = Demo.shared
    private val rail = demo.rail()
    private val callbacks = IntentRailToolCallbackProvider(rail).toolCallbacks.toList()

    private fun execute(vararg calls: Pair<String, String>): List<ToolResponseMessage.ToolResponse> {
        val assistant = AssistantMessage.builder()
            .content("")
            .toolCalls(calls.mapIndexed { i, (name, args) -> AssistantMessage.ToolCall("call_$i", "function", name, args) })
            .build()
        val prompt = Prompt("refund what the customer asked for", ToolCallingChatOptions.builder().toolCallbacks(callbacks).build())
        val result = DefaultToolCallingManager.builder().build()
            .executeToolCalls(prompt, ChatResponse(listOf(Generation(assistant))))
        return (result.conversationHistory().last() as ToolResponseMessage).responses
    }

    @Test
    fun `the catalog becomes Spring AI tool callbacks with the actions' schemas`() {
        val refund = callbacks.single { it.toolDefinition.name() == "money_refund" }
        assertTrue(refund is GovernedToolCallback)
        assertEquals("money.refund", (refund as GovernedToolCallback).definition.action)
        val schema = Json.parseToJsonElement(refund.toolDefinition.inputSchema()).jsonObject
        assertEquals("object", schema["type"]!!.jsonPrimitive.content)
        assertTrue("payment_id" in schema["properties"]!!.jsonObject)
        assertTrue(callbacks.any { it.toolDefinition.name() == "money_transfer" })
    }

    @Test
    fun `a model's tool call through Spring AI is a governed refund`() {
        val p = pid()
        val responses = execute("money_refund" to """{"payment_id":"$p","amount":9,"currency":"usd"}""")
        assertEquals(1, responses.size)
        assertEquals("money_refund", responses[0].name())
        val answer = Json.parseToJsonElement(responses[0].responseData()).jsonObject
        assertEquals(200, answer["status"]!!.jsonPrimitive.content.toInt())
        assertTrue(answer["receipt_id"]!!.jsonPrimitive.content.isNotEmpty())
        assertEquals(1, demo.received(p).size)
    }

    @Test
    fun `a refusal reaches the model as the error, and nothing runs`() {
        val p = pid()
        val responses = execute(
            "money_refund" to """{"payment_id":"$p","amount":20000,"currency":"usd"}""",
            "money_refund" to """{"payment_id":"$p","amount":1,"amount":2}""",
        )
        assertTrue(responses[0].responseData().contains("policy_denied"), responses[0].responseData())
        assertTrue(responses[0].responseData().contains("Rules: refund_cap"), responses[0].responseData())
        assertTrue(responses[1].responseData().contains("invalid_json"), responses[1].responseData())
        assertEquals(emptyList<JsonObject>(), demo.received(p))
        // Called directly, the refusal is a ToolExecutionException caused by the typed error.
        val e = assertThrows<ToolExecutionException> {
            callbacks.single { it.toolDefinition.name() == "money_refund" }
                .call("""{"payment_id":"$p","amount":20000,"currency":"usd"}""")
        }
        assertTrue(e.cause is PolicyDenied)
        assertTrue("refund_cap" in (e.cause as PolicyDenied).policyIds)
    }
}
