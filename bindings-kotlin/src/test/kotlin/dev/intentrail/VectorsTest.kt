package dev.intentrail

import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.long
import kotlinx.serialization.json.put
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.nio.ByteBuffer
import java.nio.file.Files
import java.util.HexFormat
import kotlin.io.path.listDirectoryEntries
import kotlin.io.path.name
import kotlin.io.path.readBytes
import kotlin.io.path.readLines

/** Golden vectors replayed through the Kotlin SDK: the same bytes as the Rust core, Python
 * and Node. Ours from tests/vectors, the external ones from tests/vectors/external. */
class VectorsTest {
    private val own = REPO.resolve("tests/vectors")
    private val external = REPO.resolve("tests/vectors/external")

    private fun lines(name: String): List<JsonObject> {
        val out = own.resolve(name).readLines().filter { it.isNotBlank() }.map { Json.parseToJsonElement(it) as JsonObject }
        assertTrue(out.isNotEmpty(), "no vectors in $name")
        return out
    }

    private fun JsonObject.s(name: String) = this[name]!!.jsonPrimitive.content

    @Test
    fun `canonical vectors give the recorded bytes and hashes`() {
        var n = 0
        for (v in lines("canonical.jsonl")) {
            val canonical = v.s("canonical").toByteArray(Charsets.UTF_8)
            val name = v.s("name")
            assertArrayEquals(canonical, canonicalizeJson(v.s("input")), name)
            assertArrayEquals(canonical, canonicalizeJson(v.s("input").toByteArray(Charsets.UTF_8)), name)
            assertEquals(v.s("hash"), payloadHashJson(v.s("input")), name)
            // The Kotlin-value path: parsed by kotlinx.serialization, written by the SDK.
            val value = Json.parseToJsonElement(v.s("input"))
            assertArrayEquals(canonical, canonicalize(value), name)
            assertEquals(v.s("hash"), payloadHash(value), name)
            n++
        }
        assertTrue(n > 10)
    }

    @Test
    fun `reject vectors are refused with their rule`() {
        val hex = HexFormat.of()
        for (v in lines("rejects.jsonl")) {
            val bytes = v["input_hex"]?.let { hex.parseHex(it.jsonPrimitive.content) } ?: v.s("input").toByteArray(Charsets.UTF_8)
            val e = assertThrows<InvalidRequest>(v.s("name")) { canonicalizeJson(bytes) }
            assertEquals("invalid_json", e.code, v.s("name"))
            assertTrue(e.detail.startsWith(v.s("rule") + " at "), "${v.s("name")}: ${e.detail}")
            assertThrows<InvalidRequest>(v.s("name")) { payloadHashJson(bytes) }
        }
    }

    @Test
    fun `Kotlin values the rail refuses are refused locally, never normalized`() {
        val bad = listOf(
            "lone_surrogate" to buildJsonObject { put("a", "x\ud800y") },
            "lone_surrogate" to buildJsonObject { put("\udc00", 1) },
            "integer_out_of_range" to buildJsonObject { put("a", 1L shl 53) },
            "integer_out_of_range" to buildJsonObject { put("a", Long.MIN_VALUE) },
        )
        for ((rule, value) in bad) {
            for (f in listOf<(JsonElement) -> Any>(::canonicalize, ::payloadHash)) {
                val e = assertThrows<InvalidRequest>(rule) { f(value) }
                assertEquals("invalid_json", e.code)
                assertTrue(e.detail.startsWith("$rule at "), e.detail)
            }
        }
        // Non-finite numbers have no JSON form.
        for (x in listOf(Double.NaN, Double.POSITIVE_INFINITY)) {
            val e = assertThrows<InvalidRequest> { canonicalize(buildJsonObject { put("a", x) }) }
            assertEquals("invalid_json", e.code)
        }
        // A raw lone surrogate in JSON text cannot become UTF-8: refused, not replaced.
        assertTrue(assertThrows<InvalidRequest> { canonicalizeJson("[\"\ud800\"]") }.detail.startsWith("lone_surrogate at "))
        // A well-formed pair is fine, escaped or not.
        assertEquals("{\"a\":\"\uD83D\uDE00\"}", String(canonicalize(buildJsonObject { put("a", "\uD83D\uDE00") })))
        assertEquals("{\"a\":\"\uD83D\uDE00\"}", String(canonicalizeJson("{\"a\":\"\\ud83d\\ude00\"}")))
        assertEquals("{\"a\":9007199254740991}", String(canonicalize(buildJsonObject { put("a", (1L shl 53) - 1) })))
    }

    @Test
    fun `permit vectors verify as recorded`() {
        var ok = 0
        for (v in lines("permits.jsonl")) {
            val opts = v["verify"] as JsonObject
            val jwks = v["jwks"] as JsonObject
            val verify = {
                verifyPermit(v.s("permit"), jwks, opts.s("audience"), opts.s("issuer"), opts["now"]!!.jsonPrimitive.long)
            }
            if (v.s("expect") == "ok") {
                assertEquals(v["claims"], verify(), v.s("name"))
                ok++
            } else {
                val e = assertThrows<PermitRejected>(v.s("name")) { verify() }
                assertEquals(v.s("expect"), e.code, v.s("name"))
            }
        }
        assertTrue(ok > 0)
    }

    @Test
    fun `external JCS vectors give the reference bytes`() {
        val jcs = external.resolve("jcs")
        val inputs = jcs.resolve("input").listDirectoryEntries("*.json").sortedBy { it.name }
        assertTrue(inputs.isNotEmpty(), "no JCS vectors in $jcs")
        for (f in inputs) {
            val expected = jcs.resolve("output").resolve(f.name).readBytes()
            assertArrayEquals(expected, canonicalizeJson(f.readBytes()), f.name)
            assertArrayEquals(expected, canonicalize(Json.parseToJsonElement(String(f.readBytes(), Charsets.UTF_8))), f.name)
        }
    }

    @Test
    fun `external number vectors serialize like ECMAScript`() {
        val path = external.resolve("jcs/numbers.txt")
        assertTrue(Files.isRegularFile(path), "$path is missing")
        var n = 0
        var refused = 0
        for (line in path.readLines()) {
            if (line.isBlank()) continue
            val (bits, expected) = line.split(",")
            val x = ByteBuffer.wrap(HexFormat.of().parseHex(bits.padStart(16, '0'))).double
            // The JVM's own text of the double (it parses back to exactly x), as a JSON number.
            val value = JsonPrimitive(x)
            if (x == Math.rint(x) && Math.abs(x) > 9007199254740991.0 && Math.abs(x) < 1e21) {
                // ECMAScript prints it as an integer literal beyond ±(2^53−1): not strict input,
                // refused however written (tests/vectors/README.md).
                val e = assertThrows<InvalidRequest>(line) { canonicalize(value) }
                assertTrue(e.detail.startsWith("integer_out_of_range at "), "$line: ${e.detail}")
                refused++
            } else {
                assertEquals(expected, String(canonicalize(value), Charsets.UTF_8), line)
            }
            n++
        }
        assertEquals(20000, n)
        assertTrue(refused in 1 until n / 10, "$refused refused")
    }
}
