package dev.intentrail

import kotlinx.serialization.SerializationException
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject
import java.nio.CharBuffer
import java.nio.charset.CharacterCodingException
import java.nio.charset.CodingErrorAction

// JSON crossing into the native library: Kotlin values are serialized with kotlinx.serialization
// and the text is encoded to UTF-8 strictly, then parsed strictly by the Rust core (I-JSON:
// duplicate keys, integers beyond ±(2^53−1), non-finite numbers, … are refused with
// `invalid_json`). A Kotlin string holding a lone surrogate has no UTF-8 form: it is refused
// here, never replaced by a substitute character.

/** The [Json] used for the rail's answers and for JSON values this SDK writes itself. */
internal val WireJson: Json = Json { ignoreUnknownKeys = true }

/** UTF-8 bytes of [text]; a lone surrogate is refused with `invalid_json`. */
internal fun strictUtf8(text: String): ByteArray {
    val encoder = Charsets.UTF_8.newEncoder()
        .onMalformedInput(CodingErrorAction.REPORT)
        .onUnmappableCharacter(CodingErrorAction.REPORT)
    val buf = try {
        encoder.encode(CharBuffer.wrap(text))
    } catch (e: CharacterCodingException) {
        throw localError(
            "invalid_json",
            "lone_surrogate at \"\": a string holds a lone surrogate (not valid Unicode)",
        )
    }
    return ByteArray(buf.remaining()).also { buf.get(it) }
}

/** UTF-8 bytes of the JSON text of [value]. */
internal fun jsonBytes(value: JsonElement): ByteArray = strictUtf8(encode { WireJson.encodeToString(JsonElement.serializer(), value) })

/** [block]'s JSON text; a value kotlinx.serialization cannot write is refused with `invalid_json`. */
internal inline fun encode(block: () -> String): String =
    try {
        block()
    } catch (e: SerializationException) {
        throw localError("invalid_json", "syntax at \"\": ${e.message}")
    }

/** Params as JSON bytes: a JSON object, or `invalid_request`. */
internal fun paramsBytes(params: JsonElement): ByteArray {
    if (params !is JsonObject) throw localError("invalid_request", "params must be a JSON object")
    return jsonBytes(params)
}

/** Parse JSON text the native library produced (always valid JSON). */
internal fun parseJson(text: String): JsonElement = WireJson.parseToJsonElement(text)
