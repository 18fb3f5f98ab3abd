@file:JvmName("IntentRail")

package dev.intentrail

import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject

// The Rust core's canonicalization, hashing and verification, as Kotlin functions. Everything
// here is computed by the same code as the rail, the Python SDK and the Node SDK.

/** RFC 8785 canonical bytes of a JSON value (I-JSON enforced: see [canonicalizeJson]). */
fun canonicalize(value: JsonElement): ByteArray = canonicalizeJson(jsonBytes(value))

/** RFC 8785 canonical bytes of JSON text, strictly parsed: duplicate keys, lone surrogates,
 * integers beyond ±(2^53−1) and the like are refused with `invalid_json` ([InvalidRequest]). */
fun canonicalizeJson(text: String): ByteArray = canonicalizeJson(strictUtf8(text))

/** [canonicalizeJson] of UTF-8 bytes (invalid UTF-8 is refused by the core). */
fun canonicalizeJson(bytes: ByteArray): ByteArray = ffiCall { dev.intentrail.ffi.canonicalize(bytes) }

/** `sha256:` + base64url(SHA-256(JCS(value))): the `ph` a permit binds. */
fun payloadHash(value: JsonElement): String = payloadHashJson(jsonBytes(value))

/** [payloadHash] of JSON text, strictly parsed. */
fun payloadHashJson(text: String): String = payloadHashJson(strictUtf8(text))

/** [payloadHash] of JSON bytes, strictly parsed. */
fun payloadHashJson(bytes: ByteArray): String = ffiCall { dev.intentrail.ffi.payloadHash(bytes) }

/**
 * Verify a permit strictly (EdDSA only, header, key of [jwks], [issuer], [audience], time with
 * ≤ 5 s leeway at [now], Unix seconds) and return its claims.
 *
 * @throws PermitRejected (`permit_invalid`, `permit_expired`) otherwise.
 */
@JvmOverloads
fun verifyPermit(
    token: String,
    jwks: JsonObject,
    audience: String,
    issuer: String,
    now: Long = System.currentTimeMillis() / 1000,
): JsonObject = ffiCall {
    parseJson(dev.intentrail.ffi.verifyPermit(token, jsonBytes(jwks), audience, issuer, now)) as JsonObject
}

/** A position in a receipt chain to verify from: the receipt [seq] whose `hash` is [hash]. */
data class ChainPosition(
    /** `seq` of the last receipt already verified. */
    val seq: Long,
    /** Its `hash`. */
    val hash: String,
)

/**
 * Verify a receipt chain (hashes, links, signatures against [jwks]) from seq 1, or after
 * [after].
 *
 * @throws ReceiptInvalid naming the first bad seq.
 */
@JvmOverloads
fun verifyReceipts(receipts: List<JsonElement>, jwks: JsonObject, after: ChainPosition? = null): ChainReport {
    if (after != null && after.seq < 0) throw localError("invalid_request", "after.seq must be non-negative")
    val r = ffiCall {
        dev.intentrail.ffi.verifyReceipts(jsonBytes(JsonArray(receipts)), jsonBytes(jwks), after?.seq?.toULong(), after?.hash)
    }
    return ChainReport(r.count.toLong(), r.lastSeq.toLong(), r.lastHash)
}

/** Every error code the core knows, in declaration order. */
val errorCodes: List<String> get() = dev.intentrail.ffi.errorCodes()

/** The version of the native library (the workspace version). */
val nativeVersion: String get() = dev.intentrail.ffi.nativeVersion()
