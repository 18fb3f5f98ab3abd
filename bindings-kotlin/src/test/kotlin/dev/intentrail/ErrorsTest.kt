package dev.intentrail

import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import kotlin.io.path.readText

/** One error vocabulary: the Kotlin classes follow core's code → family table, and so do the
 * Python and Node SDKs' own maps (read from their sources in this repository). */
class ErrorsTest {
    /** `"code": Class` pairs of a map literal in [source] between [start] and the next `}`. */
    private fun table(source: String, start: String): Map<String, String> {
        val from = source.indexOf(start)
        assertTrue(from >= 0, "no $start")
        val body = source.substring(from, source.indexOf('}', from))
        val pair = Regex("""["']?([a-z_]+)["']?\s*:\s*([A-Za-z]+)""")
        val out = pair.findAll(body).associate { it.groupValues[1] to it.groupValues[2] }
        assertTrue(out.size > 20, "only ${out.size} codes read from $start")
        return out
    }

    private val python = table(REPO.resolve("bindings-python/python/intentrail/exceptions.py").readText(), "_BY_CODE: Dict")
    private val node = table(REPO.resolve("bindings-node/index.js").readText(), "const BY_CODE")

    @Test
    fun `every code maps to the family class of core's table, as in Python and Node`() {
        val codes = errorCodes
        assertTrue("payload_hash_mismatch" in codes && "internal" in codes)
        for (code in codes) {
            val expected = python[code] ?: "IntentRailError"
            assertEquals(expected, node[code] ?: "IntentRailError", "Node disagrees with Python on $code")
            assertEquals(expected, dev.intentrail.ffi.errorClassName(code), "core disagrees with Python on $code")
            val kotlinName = if (expected == "IntentRailError") "InternalError" else expected
            assertEquals(kotlinName, errorClass(code).simpleName, code)
        }
        // The SDKs' maps name no code core does not know.
        assertEquals(emptySet<String>(), python.keys - codes.toSet())
        assertEquals(emptySet<String>(), node.keys - codes.toSet())
        assertEquals(InternalError::class.java, errorClass("a_code_from_the_future"))
    }

    @Test
    fun `families are the sealed hierarchy`() {
        val subclasses = IntentRailException::class.sealedSubclasses.map { it.simpleName }.toSet()
        assertEquals(
            setOf(
                "PolicyDenied", "ApprovalPending", "SchemaInvalid", "PermitRejected", "DownstreamError",
                "RailUnavailable", "AuthenticationError", "InvalidRequest", "ReceiptInvalid", "InternalError",
            ),
            subclasses,
        )
        val e = PolicyDenied("policy_denied", "capped", 403, "rct_1", policyIds = listOf("refund_cap"))
        assertEquals(
            "policy_denied: capped. Rules: refund_cap. Calling again with the same request will be refused again.",
            e.message,
        )
        val s = SchemaInvalid(
            "schema_invalid", "1 violation(s) of the money.refund schema",
            violations = listOf(JsonObject(mapOf("pointer" to JsonPrimitive("/amount"), "message" to JsonPrimitive("must be positive")))),
        )
        assertEquals(
            "schema_invalid: 1 violation(s) of the money.refund schema. Violations: /amount: must be positive. " +
                "Fix the request as described, then call again.",
            s.message,
        )
        assertTrue((e as RuntimeException) is IntentRailException)
    }
}
