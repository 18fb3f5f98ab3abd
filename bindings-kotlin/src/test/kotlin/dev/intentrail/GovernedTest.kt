package dev.intentrail

import kotlinx.coroutines.runBlocking
import kotlinx.serialization.SerialName
import kotlinx.serialization.Serializable
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.long
import kotlinx.serialization.json.put
import kotlinx.serialization.json.putJsonObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.net.ServerSocket
import java.util.concurrent.TimeUnit
import kotlin.time.Duration.Companion.seconds

/** The params of `money.refund`, as an agent declares them. */
@Serializable
data class Refund(
    @SerialName("payment_id") val paymentId: String,
    val amount: Long,
    val currency: String = "usd",
    val reason: String? = null,
)

/** The same action with a field the schema does not have. */
@Serializable
data class RefundWithNote(
    @SerialName("payment_id") val paymentId: String,
    val amount: Long,
    val currency: String,
    val note: String,
)

/** What the demo payments API answers a refund with (other members ignored). */
@Serializable
data class RefundAnswer(val id: String, val status: String, val request: Refund)

/** Params whose double is not JSON. */
@Serializable
data class Measured(val value: Double)

/** End to end against the real `intentrail demo` rail: governed calls, refusals, tampering,
 * tool definitions, errors. Keys are never printed. */
class GovernedTest {
    private val demo = Demo.shared
    private val rail = demo.rail()

    private inline fun <reified E : Throwable> rejects(crossinline block: suspend () -> Unit): E =
        assertThrows<E> { runBlocking { block() } }

    @Test
    fun `a governed refund reaches the demo downstream`(): Unit = runBlocking {
        val refund = governed<Refund>(rail, "money.refund")
        val p = pid()
        val r = refund(Refund(p, 500))
        assertEquals(200, r.status)
        assertTrue(r.ok)
        assertTrue(r.body is JsonObject)
        assertEquals("execution", r.receipt["kind"]!!.jsonPrimitive.content)
        assertEquals("success", r.receipt["outcome"]!!.jsonPrimitive.content)
        // The hash the rail bound is the SDK's own hash of exactly these params (null left out).
        val sent = buildJsonObject { put("payment_id", p); put("amount", 500); put("currency", "usd") }
        assertEquals(sent, refund.paramsOf(Refund(p, 500)))
        assertEquals(payloadHash(sent), r.receipt["payload_hash"]!!.jsonPrimitive.content)
        val got = demo.received(p)
        assertEquals(1, got.size)
        assertEquals("/v1/refunds", got[0]["path"]!!.jsonPrimitive.content)
        assertEquals(JsonPrimitive(true), got[0]["authorized"])
        assertEquals(sent, Json.parseToJsonElement(got[0]["body"]!!.jsonPrimitive.content))
        // The receipt the rail returned is the one it stores.
        assertEquals(r.receipt["hash"], rail.receipt(r.receiptId!!)["hash"])
    }

    @Test
    fun `a denied refund raises PolicyDenied naming refund_cap`(): Unit = runBlocking {
        val refund = rail.governed<Refund>("money.refund")
        val p = pid()
        val e = rejects<PolicyDenied> { refund(Refund(p, 20000)) }
        assertEquals("policy_denied", e.code)
        assertTrue("refund_cap" in e.policyIds, e.policyIds.toString())
        assertEquals(403, e.status)
        assertNotNull(e.receiptId)
        assertTrue(e.message.startsWith("policy_denied: "), e.message)
        assertTrue("Rules: refund_cap" in e.message, e.message)
        assertTrue(e.message.endsWith("Calling again with the same request will be refused again."), e.message)
        assertEquals(emptyList<JsonObject>(), demo.received(p))
        assertEquals("deny", rail.receipt(e.receiptId!!)["decision"]!!.jsonPrimitive.content)
    }

    @Test
    fun `schema errors raise SchemaInvalid listing the pointers`(): Unit = runBlocking {
        val p = pid()
        val e = rejects<SchemaInvalid> { governed<Refund>(rail, "money.refund")(Refund(p, -5, "USD")) }
        assertEquals("schema_invalid", e.code)
        assertTrue("/amount" in e.fields && "/currency" in e.fields, e.fields.toString())
        assertTrue(e.violations.all { it["message"] is JsonPrimitive })
        for (v in e.violations) {
            val named = "${v["pointer"]!!.jsonPrimitive.content}: ${v["message"]!!.jsonPrimitive.content}"
            assertTrue(named in e.message, e.message)
        }
        assertTrue(e.message.endsWith("Fix the request as described, then call again."), e.message)
        val e2 = rejects<SchemaInvalid> { governed<RefundWithNote>(rail, "money.refund")(RefundWithNote(p, 5, "usd", "hi")) }
        assertTrue("/note" in e2.fields, e2.fields.toString())
        assertEquals(emptyList<JsonObject>(), demo.received(p))
    }

    @Test
    fun `a tampering proxy's permit for other params is refused before execute, nothing sent`(): Unit = runBlocking {
        Proxy(demo.railUrl).use { proxy ->
            // A tampering rail: it asks for a permit over other params than the SDK sent.
            proxy.rewrite = { path, body ->
                if (path == "/v1/intents") {
                    JsonObject(body + ("params" to JsonObject(body["params"]!!.jsonObject + ("amount" to JsonPrimitive(9999)))))
                } else {
                    body
                }
            }
            Rail(proxy.url, demo.apiKey, demo.agentId).use { evil ->
                val p = pid()
                val e = rejects<PermitRejected> { governed<Refund>(evil, "money.refund")(Refund(p, 100)) }
                assertEquals("payload_hash_mismatch", e.code)
                assertEquals(1, proxy.count("/v1/intents"))
                assertEquals(0, proxy.count("/v1/execute"))
                assertEquals(emptyList<JsonObject>(), demo.received(p))
            }
        }
    }

    @Test
    fun `a permit for another action is refused before execute`(): Unit = runBlocking {
        Proxy(demo.railUrl).use { proxy ->
            proxy.rewrite = { path, body ->
                if (path == "/v1/intents") {
                    buildJsonObject {
                        put("action", "money.payment")
                        putJsonObject("params") { put("amount", 100); put("currency", "usd"); put("customer", "cus_evil") }
                    }
                } else {
                    body
                }
            }
            Rail(proxy.url, demo.apiKey, demo.agentId).use { evil ->
                val p = pid()
                val params = buildJsonObject { put("payment_id", p); put("amount", 100); put("currency", "usd") }
                val e = rejects<PermitRejected> { evil.act("money.refund", params) }
                assertEquals("permit_invalid", e.code)
                assertEquals(0, proxy.count("/v1/execute"))
                assertEquals(emptyList<JsonObject>(), demo.received(p))
            }
        }
    }

    @Test
    fun `approval required raises ApprovalPending`(): Unit = runBlocking {
        val params = buildJsonObject {
            put("amount", 5); put("currency", "usd"); put("from_account", "acct_a"); put("to_account", "acct_kotlin")
        }
        val e = rejects<ApprovalPending> { rail.act("money.transfer", params) }
        assertEquals("approval_pending", e.code)
        assertEquals(202, e.status)
        assertTrue(e.approvalId!!.startsWith("apr_"))
        assertTrue("transfers_need_approval" in e.policyIds)
        rejects<ApprovalPending> { rail.intent("money.transfer", params) }
        assertFalse(demo.requests().any { it["body"]!!.jsonPrimitive.content.contains("acct_kotlin") })
    }

    @Test
    fun `intent then execute, and a replay is refused`(): Unit = runBlocking {
        val p = pid()
        val params = buildJsonObject { put("payment_id", p); put("amount", 3); put("currency", "usd") }
        val permit = rail.intent("money.refund", params)
        assertEquals(payloadHash(params), permit.claims["ph"]!!.jsonPrimitive.content)
        assertEquals(permit.payloadHash, permit.claims["ph"]!!.jsonPrimitive.content)
        val agent = rail.agent()
        assertEquals(demo.agentId, agent.agentId)
        assertEquals(permit.claims, verifyPermit(permit.token, rail.jwks(), agent.audience, agent.issuer))
        val e = assertThrows<PermitRejected> {
            verifyPermit(permit.token, buildJsonObject { put("keys", kotlinx.serialization.json.JsonArray(emptyList())) }, agent.audience, agent.issuer)
        }
        assertEquals("permit_invalid", e.code)
        assertEquals(200, rail.execute(permit, params).status)
        assertEquals("permit_already_used", rejects<PermitRejected> { rail.execute(permit.token, params) }.code)
        assertEquals(1, demo.received(p).size)
    }

    @Test
    fun `receipts verify as a chain, and an edit is found`(): Unit = runBlocking {
        Rail(demo.railUrl, demo.adminKey, demo.agentId).use { admin ->
            rail.act("money.refund", buildJsonObject { put("payment_id", pid()); put("amount", 2); put("currency", "usd") })
            val chain = admin.receipts(after = 0, limit = 1000)["receipts"]!!.jsonArray.toList()
            val jwks = rail.jwks()
            val report = verifyReceipts(chain, jwks)
            assertEquals(chain.size.toLong(), report.count)
            assertTrue(report.count >= 1)
            assertEquals(chain.last().jsonObject["seq"]!!.jsonPrimitive.long, report.lastSeq)
            val edited = listOf(JsonObject(chain[0].jsonObject + ("action" to JsonPrimitive("money.payment")))) + chain.drop(1)
            rejects<ReceiptInvalid> { verifyReceipts(edited, jwks) }
        }
    }

    @Test
    fun `fromEnv reads INTENTRAIL_URL, INTENTRAIL_API_KEY, INTENTRAIL_AGENT_ID and INTENTRAIL_TIMEOUT`(): Unit = runBlocking {
        val env = mapOf(
            "INTENTRAIL_URL" to demo.railUrl,
            "INTENTRAIL_API_KEY" to demo.apiKey,
            "INTENTRAIL_AGENT_ID" to demo.agentId,
            "INTENTRAIL_TIMEOUT" to "2.5",
        )
        Rail.fromEnv(env).use { r ->
            assertEquals(demo.agentId, r.agent().agentId)
            assertEquals(2500L, r.timeout.inWholeMilliseconds)
        }
        val e = assertThrows<InvalidRequest> { Rail.fromEnv(env - "INTENTRAIL_API_KEY") }
        assertTrue(e.detail.contains("INTENTRAIL_API_KEY"), e.detail)
        assertThrows<InvalidRequest> { Rail.fromEnv(env + ("INTENTRAIL_TIMEOUT" to "soon")) }
        // The process environment: a fresh JVM (this test's classpath, nothing else) whose
        // governed(null, ...) takes its rail from the variables, and loads the native library
        // from the jar resource.
        val p = pid()
        val java = java.nio.file.Paths.get(System.getProperty("java.home"), "bin", "java").toString()
        val pb = ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), "dev.intentrail.FromEnvMain", p)
            .redirectErrorStream(true)
        pb.environment().putAll(env - "INTENTRAIL_TIMEOUT")
        val proc = pb.start()
        val out = proc.inputStream.bufferedReader().readText()
        assertTrue(proc.waitFor(60, TimeUnit.SECONDS))
        assertEquals(0, proc.exitValue(), out.replace(demo.apiKey, "<key>"))
        assertTrue(out.contains("status=200"), out.replace(demo.apiKey, "<key>"))
        assertEquals(1, demo.received(p).size)
    }

    @Test
    fun `the API key never shows in a Rail's or an error's printed form`(): Unit = runBlocking {
        assertFalse(rail.toString().contains(demo.apiKey))
        assertTrue(rail.toString().contains(demo.agentId))
        Rail(demo.railUrl, "ir_" + "x".repeat(43), demo.agentId).use { bad ->
            val e = rejects<AuthenticationError> { bad.actions() }
            assertEquals("unauthenticated", e.code)
            assertEquals(401, e.status)
            assertFalse(e.stackTraceToString().contains("ir_xxxx"))
        }
    }

    @Test
    fun `an unreachable rail raises RailUnavailable without the key`(): Unit = runBlocking {
        val port = ServerSocket(0).use { it.localPort }
        Rail("http://127.0.0.1:$port", "ir_secret_value", "a", 2.seconds).use { r ->
            val e = rejects<RailUnavailable> { r.act("money.refund", buildJsonObject { put("payment_id", "p"); put("amount", 1) }) }
            assertEquals("rail_unavailable", e.code)
            assertNull(e.status)
            assertFalse(e.stackTraceToString().contains("ir_secret_value"))
        }
    }

    @Test
    fun `bad params are refused locally, before any request`(): Unit = runBlocking {
        Proxy(demo.railUrl).use { proxy ->
            Rail(proxy.url, demo.apiKey, demo.agentId).use { r ->
                val refund = governed<Refund>(r, "money.refund")
                assertEquals("invalid_json", rejects<InvalidRequest> { refund(Refund("p\ud800", 1)) }.code)
                assertEquals("invalid_json", rejects<InvalidRequest> { refund(Refund("p", 1L shl 60)) }.code)
                assertEquals("invalid_json", rejects<InvalidRequest> { governed<Measured>(r, "money.refund")(Measured(Double.NaN)) }.code)
                assertEquals("invalid_request", rejects<InvalidRequest> { governed<List<Int>>(r, "money.refund")(listOf(1, 2)) }.code)
                assertEquals("invalid_json", rejects<InvalidRequest> { r.actJson("money.refund", """{"amount":1,"amount":2}""") }.code)
                assertEquals("invalid_request", rejects<InvalidRequest> { r.actJson("money.refund", "[1,2]") }.code)
                assertEquals("invalid_request", rejects<InvalidRequest> { r.act("", buildJsonObject {}) }.code)
            }
            assertEquals(emptyList<String>(), proxy.seen.toList())
        }
        assertThrows<InvalidRequest> { Rail("ftp://x", "k", "a") }
        assertThrows<InvalidRequest> { Rail(demo.railUrl, "k", "a", 0.seconds) }
        assertThrows<InvalidRequest> { Rail(demo.railUrl, "", "a") }
    }

    @Test
    fun `tool definitions come from the catalog, and a model's call runs the action`(): Unit = runBlocking {
        val defs = rail.toolDefinitions()
        val names = defs.map { it.name }
        for (n in listOf("money_refund", "money_payment", "money_transfer")) assertTrue(n in names, n)
        val refundDef = defs.single { it.name == "money_refund" }
        assertEquals("money.refund", refundDef.action)
        assertTrue(refundDef.description.isNotEmpty())
        assertEquals("object", refundDef.parameters["type"]!!.jsonPrimitive.content)
        assertTrue("payment_id" in refundDef.parameters["properties"]!!.jsonObject)
        val openAi = refundDef.toOpenAi()
        assertEquals("function", openAi["type"]!!.jsonPrimitive.content)
        assertEquals("money_refund", openAi["function"]!!.jsonObject["name"]!!.jsonPrimitive.content)
        assertEquals(refundDef.parameters, refundDef.toAnthropic()["input_schema"])
        assertEquals("money.refund", rail.actionForTool("money_refund"))
        assertNull(rail.actionForTool("nope"))
        // A tool call as the model sends it: JSON text, parsed strictly by the core.
        val p = pid()
        assertEquals(200, rail.callTool("money_refund", """{"payment_id":"$p","amount":7,"currency":"usd"}""").status)
        assertEquals(
            "invalid_json",
            rejects<InvalidRequest> { rail.callTool("money_refund", """{"payment_id":"$p","amount":1,"amount":9000}""") }.code,
        )
        assertEquals("unknown_action", rejects<InvalidRequest> { rail.callTool("no_such_tool", "{}") }.code)
        assertEquals(1, demo.received(p).size)
    }

    @Test
    fun `governed actions carry their action, tool name and definition`() {
        val schema = buildJsonObject {
            put("type", "object")
            putJsonObject("properties") { putJsonObject("payment_id") { put("type", "string") } }
        }
        val refund = governed<Refund>(rail, "money.refund", description = "Refund a payment.", schema = schema)
        assertEquals("money.refund", refund.actionName)
        assertEquals("money_refund", refund.toolName)
        assertEquals(ToolDefinition("money.refund", "money_refund", "Refund a payment.", schema), refund.toolDefinition)
        val bare = governed<JsonObject>(rail, "github.repos/create-release")
        assertEquals("github_repos_create-release", bare.toolDefinition.name)
        assertEquals(buildJsonObject { put("type", "object") }, bare.toolDefinition.parameters)
        assertThrows<InvalidRequest> { governed<Refund>(rail, "") }
        assertThrows<InvalidRequest> { governed<Refund>(rail, "x".repeat(65)) }
    }

    @Test
    fun `an idempotency key never lets a refund run twice`(): Unit = runBlocking {
        val p = pid()
        val refund = governed<Refund>(rail, "money.refund", idempotencyKey = { "idk-${it.paymentId}" })
        val a = refund(Refund(p, 8))
        assertEquals(200, a.status)
        // The retry replays the first answer: the same permit, the same receipt. It never runs twice.
        val b = refund(Refund(p, 8))
        assertEquals(a.receiptId, b.receiptId)
        assertEquals(a.body, b.body)
        assertEquals(1, demo.received(p).size)
        // The downstream's answer decoded into the agent's own type.
        val answer = a.bodyAs<RefundAnswer>()
        assertTrue(answer.id.startsWith("re_"), answer.id)
        assertEquals("succeeded", answer.status)
        assertEquals(Refund(p, 8), answer.request)
    }
}

/** Run by the fromEnv test in a fresh JVM: one governed refund with the rail from the
 * environment. */
object FromEnvMain {
    @JvmStatic
    fun main(args: Array<String>) = runBlocking {
        val r = governed<Refund>(null, "money.refund")(Refund(args[0], 4))
        println("status=${r.status}")
    }
}
