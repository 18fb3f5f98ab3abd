package dev.intentrail

import kotlinx.serialization.DeserializationStrategy
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.contentOrNull
import kotlinx.serialization.serializer

/**
 * The answer of a governed execution: the downstream's own [status], [headers] and [body]
 * (parsed JSON when it was JSON, else a JSON string), and the rail's signed [receipt].
 * A downstream 4xx is the downstream's answer, not an exception: check [ok].
 *
 * (Named `ActionResult`, not `Result` as in Python and Node, so it never shadows
 * `kotlin.Result`.)
 */
data class ActionResult(
    /** The downstream's HTTP status. */
    val status: Int,
    /** The downstream's headers (lower-case names; repeated headers joined with `, `). */
    val headers: Map<String, String>,
    /** The downstream's body. */
    val body: JsonElement,
    /** The execution receipt as the rail returned it (verifiable with [verifyReceipts]). */
    val receipt: JsonObject,
    /** The permit that was consumed. */
    val permitId: String?,
) {
    /** Whether the downstream answered 2xx. */
    val ok: Boolean get() = status in 200..299

    /** The execution receipt's id. */
    val receiptId: String? get() = (receipt["id"] as? JsonPrimitive)?.contentOrNull

    /** The body decoded as [T] with [deserializer] (unknown members ignored by default). */
    fun <T> bodyAs(deserializer: DeserializationStrategy<T>, json: Json = WireJson): T =
        json.decodeFromJsonElement(deserializer, body)

    /** The body decoded as [T] (a `@Serializable` class; unknown members ignored by default). */
    inline fun <reified T> bodyAs(json: Json = Json { ignoreUnknownKeys = true }): T =
        bodyAs(serializer<T>(), json)
}

/**
 * A permit the rail issued. [claims] were decoded, not verified, by [Rail.intent]; [Rail.act]
 * verifies every permit before executing it.
 */
data class Permit(
    /** The compact JWS. */
    val token: String,
    /** The claims (`act`, `sub`, `tnt`, `ph`, `jti`, `exp`, …). */
    val claims: JsonObject,
    /** The permit id (`jti`). */
    val permitId: String,
    /** The payload hash the rail computed (`ph`). */
    val payloadHash: String,
    /** Expiry, Unix seconds. */
    val expiresAt: Long,
    /** The decision receipt. */
    val receiptId: String?,
)

/** Who the API key belongs to (`GET /v1/agent`). */
data class AgentInfo(
    /** The agent id. */
    val agentId: String,
    /** The tenant id. */
    val tenant: String,
    /** The issuer the tenant's permits carry (`iss`). */
    val issuer: String,
    /** The rail's audience (`aud`). */
    val audience: String,
    /** The tenant's JWKS path (relative to the rail URL) or URL. */
    val jwksUrl: String,
)

/** Where a verified receipt chain ended. */
data class ChainReport(
    /** Receipts checked. */
    val count: Long,
    /** `seq` of the last receipt. */
    val lastSeq: Long,
    /** `hash` of the last receipt. */
    val lastHash: String,
)
