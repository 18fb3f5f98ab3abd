package dev.intentrail

import dev.intentrail.ffi.Family
import dev.intentrail.ffi.NativeException
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.contentOrNull

/**
 * Base of every IntentRail error: one subclass per family of the API's stable codes, the same
 * families as the Python and Node SDKs. The family of a code comes from the Rust core's one
 * table (`ErrorKind::family`), never from a copy in this SDK. Unchecked (a [RuntimeException]),
 * as JVM frameworks expect of a client library's errors.
 *
 * @property code the stable error code (`policy_denied`, `schema_invalid`, …).
 * @property detail the human detail (never a secret).
 * @property status the HTTP status of the rail's answer, if there was one.
 * @property receiptId the receipt the rail recorded for this refusal, if any.
 * @property problem the whole problem+json document, if the rail sent one.
 */
sealed class IntentRailException(
    val code: String,
    val detail: String,
    val status: Int?,
    val receiptId: String?,
    val problem: JsonObject?,
) : RuntimeException() {
    /**
     * The error as a model should read it, the same words in every SDK (the Rust core's
     * rendering): the code, the detail, the rules or limit that decided, every schema
     * violation with its pointer, and what calling again can do (never, after fixing the
     * request, later, only after checking the outcome, or after a person's approval).
     */
    override val message: String by lazy {
        dev.intentrail.ffi.explainError(code, detail, rules(), JsonArray(violationList()).toString(), approval())
    }

    /** The rules (or limit) this error names. */
    internal open fun rules(): List<String> = emptyList()

    /** The schema violations this error carries. */
    internal open fun violationList(): List<JsonObject> = emptyList()

    /** The approval this error waits for. */
    internal open fun approval(): String? = null
}

/** A policy or a stateful limit refused the action (`policy_denied`, `rate_limited`). */
class PolicyDenied(
    code: String,
    detail: String,
    status: Int? = null,
    receiptId: String? = null,
    problem: JsonObject? = null,
    /** The rules that decided (or the limit, for `rate_limited`). */
    val policyIds: List<String> = emptyList(),
) : IntentRailException(code, detail, status, receiptId, problem) {
    override fun rules(): List<String> = policyIds
}

/** The action waits for a human approval (`approval_pending`); nothing was executed. */
class ApprovalPending(
    code: String,
    detail: String,
    status: Int? = null,
    receiptId: String? = null,
    problem: JsonObject? = null,
    /** The approval to wait for. */
    val approvalId: String? = null,
    /** The rules that asked for approval. */
    val policyIds: List<String> = emptyList(),
) : IntentRailException(code, detail, status, receiptId, problem) {
    override fun rules(): List<String> = policyIds

    override fun approval(): String? = approvalId
}

/** The params do not match the action's schema; [violations] lists every one. */
class SchemaInvalid(
    code: String,
    detail: String,
    status: Int? = null,
    receiptId: String? = null,
    problem: JsonObject? = null,
    /** Every violation as the rail sent it (`{pointer, message, …}`). */
    val violations: List<JsonObject> = emptyList(),
) : IntentRailException(code, detail, status, receiptId, problem) {
    override fun violationList(): List<JsonObject> = violations

    /** The JSON pointers the violations name (`/amount`, `/currency`, …). */
    val fields: List<String>
        get() = violations.mapNotNull { v ->
            listOf("pointer", "path", "instance_path").firstNotNullOfOrNull { name ->
                (v[name] as? JsonPrimitive)?.takeIf { it.isString }?.content
            }
        }
}

/**
 * The permit was refused, by the rail or by this SDK before executing: invalid, expired,
 * already used, issued to another agent, or bound to other params.
 */
class PermitRejected(
    code: String,
    detail: String,
    status: Int? = null,
    receiptId: String? = null,
    problem: JsonObject? = null,
) : IntentRailException(code, detail, status, receiptId, problem)

/**
 * The downstream failed (`downstream_error`) or did not answer in time (`downstream_timeout`:
 * the outcome is unknown; never retry blindly).
 */
class DownstreamError(
    code: String,
    detail: String,
    status: Int? = null,
    receiptId: String? = null,
    problem: JsonObject? = null,
) : IntentRailException(code, detail, status, receiptId, problem)

/** The rail, its ledger or its credential store is unavailable (or unreachable). */
class RailUnavailable(
    code: String,
    detail: String,
    status: Int? = null,
    receiptId: String? = null,
    problem: JsonObject? = null,
) : IntentRailException(code, detail, status, receiptId, problem)

/** The API key or agent id was refused (`unauthenticated`, `forbidden`). */
class AuthenticationError(
    code: String,
    detail: String,
    status: Int? = null,
    receiptId: String? = null,
    problem: JsonObject? = null,
) : IntentRailException(code, detail, status, receiptId, problem)

/**
 * The request itself is wrong: bad JSON, unknown action or endpoint, idempotency key reused
 * with other params or still in progress, body too large, no such resource.
 */
class InvalidRequest(
    code: String,
    detail: String,
    status: Int? = null,
    receiptId: String? = null,
    problem: JsonObject? = null,
) : IntentRailException(code, detail, status, receiptId, problem)

/** A receipt chain does not verify (`receipt_invalid`). */
class ReceiptInvalid(
    code: String,
    detail: String,
    status: Int? = null,
    receiptId: String? = null,
    problem: JsonObject? = null,
) : IntentRailException(code, detail, status, receiptId, problem)

/**
 * `internal`, and codes this SDK does not know (the Python and Node SDKs raise their base class
 * for these; a sealed Kotlin base needs a concrete class).
 */
class InternalError(
    code: String,
    detail: String,
    status: Int? = null,
    receiptId: String? = null,
    problem: JsonObject? = null,
) : IntentRailException(code, detail, status, receiptId, problem)

/**
 * The exception class of an error [code]: the family core assigns to it (`InternalError` for
 * `internal` and codes this SDK does not know).
 */
fun errorClass(code: String): Class<out IntentRailException> =
    when (dev.intentrail.ffi.errorFamily(code)) {
        Family.POLICY_DENIED -> PolicyDenied::class.java
        Family.APPROVAL_PENDING -> ApprovalPending::class.java
        Family.SCHEMA_INVALID -> SchemaInvalid::class.java
        Family.PERMIT_REJECTED -> PermitRejected::class.java
        Family.DOWNSTREAM_ERROR -> DownstreamError::class.java
        Family.RAIL_UNAVAILABLE -> RailUnavailable::class.java
        Family.AUTHENTICATION_ERROR -> AuthenticationError::class.java
        Family.INVALID_REQUEST -> InvalidRequest::class.java
        Family.RECEIPT_INVALID -> ReceiptInvalid::class.java
        Family.INTERNAL -> InternalError::class.java
    }

/** The error of [code] raised by this Kotlin layer itself (before anything is sent). */
internal fun localError(code: String, detail: String): IntentRailException =
    build(dev.intentrail.ffi.errorFamily(code), code, detail, null, null, null, emptyList(), emptyList(), null)

/** The one place a native error becomes the exception class of its family. */
internal fun NativeException.toIntentRail(): IntentRailException = when (this) {
    is NativeException.Rail -> build(
        family,
        code,
        detail,
        status?.toInt(),
        receiptId,
        problemJson?.let { parseJson(it) as? JsonObject },
        (parseJson(violationsJson) as? JsonArray)?.filterIsInstance<JsonObject>() ?: emptyList(),
        policyIds,
        approvalId,
    )
}

private fun build(
    family: Family,
    code: String,
    detail: String,
    status: Int?,
    receiptId: String?,
    problem: JsonObject?,
    violations: List<JsonObject>,
    policyIds: List<String>,
    approvalId: String?,
): IntentRailException = when (family) {
    Family.POLICY_DENIED -> PolicyDenied(
        code, detail, status, receiptId, problem,
        // A limit names itself in `limit_id` rather than in `policy_ids`.
        policyIds = policyIds.ifEmpty {
            listOfNotNull((problem?.get("limit_id") as? JsonPrimitive)?.contentOrNull)
        },
    )
    Family.APPROVAL_PENDING -> ApprovalPending(code, detail, status, receiptId, problem, approvalId, policyIds)
    Family.SCHEMA_INVALID -> SchemaInvalid(code, detail, status, receiptId, problem, violations)
    Family.PERMIT_REJECTED -> PermitRejected(code, detail, status, receiptId, problem)
    Family.DOWNSTREAM_ERROR -> DownstreamError(code, detail, status, receiptId, problem)
    Family.RAIL_UNAVAILABLE -> RailUnavailable(code, detail, status, receiptId, problem)
    Family.AUTHENTICATION_ERROR -> AuthenticationError(code, detail, status, receiptId, problem)
    Family.INVALID_REQUEST -> InvalidRequest(code, detail, status, receiptId, problem)
    Family.RECEIPT_INVALID -> ReceiptInvalid(code, detail, status, receiptId, problem)
    Family.INTERNAL -> InternalError(code, detail, status, receiptId, problem)
}

/** Run a native call, turning its error into the IntentRail exception of its family. */
internal inline fun <T> ffiCall(block: () -> T): T =
    try {
        block()
    } catch (e: NativeException) {
        throw e.toIntentRail()
    }
