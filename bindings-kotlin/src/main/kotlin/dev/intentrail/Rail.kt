package dev.intentrail

import dev.intentrail.ffi.NativeRail
import dev.intentrail.ffi.NativeResult
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.contentOrNull
import java.util.concurrent.ConcurrentHashMap
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/**
 * The client of one agent. Share one per process: it pools connections and caches the agent's
 * identity and the tenant's JWKS; it is safe to use from any number of coroutines and threads.
 *
 * Every network call is a `suspend` function resolved on the SDK's native runtime: the calling
 * coroutine is suspended, not a thread blocked, while the rail answers. [act] is the governed
 * path: the SDK canonicalizes and hashes the params locally, obtains a permit, verifies it
 * against the tenant's JWKS and its own hash, and only then lets the rail execute it.
 *
 * Close it ([close]) to release the native client early; otherwise it is released when
 * garbage-collected.
 *
 * @param url the rail URL (`http://…` or `https://…`).
 * @param apiKey the agent's IntentRail API key (never shown by [toString] or in errors).
 * @param agentId the agent id the key belongs to.
 * @param timeout the bound on each request, connect to last byte.
 * @throws InvalidRequest for a URL that is not http(s), an empty key or id, or a non-positive
 *   timeout.
 */
class Rail(url: String, apiKey: String, agentId: String, timeout: Duration = 30.seconds) : AutoCloseable {
    private val ffi: NativeRail
    private val tools = ConcurrentHashMap<String, String>()

    init {
        if (!timeout.isPositive() || timeout.isInfinite()) {
            throw localError("invalid_request", "timeout must be a positive, finite duration")
        }
        val ms = timeout.inWholeMilliseconds.coerceAtLeast(1)
        ffi = ffiCall { NativeRail(url, apiKey, agentId, ms.toULong()) }
    }

    /** The rail URL (without a trailing slash). */
    val url: String get() = ffi.url()

    /** The agent id. */
    val agentId: String get() = ffi.agentId()

    /** The per-request timeout. */
    val timeout: Duration get() = ffi.timeoutMs().toLong().milliseconds

    /** `Rail(url=…, agentId=…)`: never the API key. */
    override fun toString(): String = "Rail(url=\"$url\", agentId=\"$agentId\")"

    /** Release the native client; calls after this fail with [IllegalStateException]. */
    override fun close() = ffi.close()

    /** `GET /v1/agent`: who the API key belongs to (cached after the first success). */
    suspend fun agent(): AgentInfo = ffiCall {
        val a = ffi.agent()
        AgentInfo(a.agentId, a.tenant, a.issuer, a.audience, a.jwksUrl)
    }

    /** The tenant's JWKS (cached; reloaded when a permit names an unknown key). */
    suspend fun jwks(): JsonObject = ffiCall { parseJson(ffi.jwks()) as JsonObject }

    /**
     * `POST /v1/intents`: a permit for [action] with [params] (not executed). The claims are
     * decoded, not verified ([act] verifies).
     *
     * @throws ApprovalPending when a human must approve first.
     */
    suspend fun intent(action: String, params: JsonObject, idempotencyKey: String? = null): Permit =
        intentBytes(action, paramsBytes(params), idempotencyKey)

    /** [intent] with the params as JSON text (parsed strictly by the core). */
    suspend fun intentJson(action: String, paramsJson: String, idempotencyKey: String? = null): Permit =
        intentBytes(action, strictUtf8(paramsJson), idempotencyKey)

    private suspend fun intentBytes(action: String, params: ByteArray, idempotencyKey: String?): Permit {
        requireNonEmpty("action", action)
        return ffiCall {
            val p = ffi.intent(action, params, idempotencyKey)
            Permit(p.token, parseJson(p.claimsJson) as JsonObject, p.permitId, p.payloadHash, p.expiresAt, p.receiptId)
        }
    }

    /** `POST /v1/execute`: run [permit] with exactly these [params] (no local checks). */
    suspend fun execute(permit: Permit, params: JsonObject): ActionResult = execute(permit.token, params)

    /** `POST /v1/execute` of a permit token with exactly these [params] (no local checks). */
    suspend fun execute(permit: String, params: JsonObject): ActionResult {
        val bytes = paramsBytes(params)
        return ffiCall { ffi.execute(permit, bytes).toResult() }
    }

    /**
     * The governed path: intent, local verification of the permit (signature, key, issuer,
     * audience, time, action, agent, and that `ph` is the hash of exactly these params), then
     * execute. A permit that fails a check is refused with [PermitRejected] before anything is
     * executed.
     *
     * @throws PolicyDenied, SchemaInvalid, ApprovalPending, PermitRejected, … (see
     *   [IntentRailException]).
     */
    suspend fun act(action: String, params: JsonObject, idempotencyKey: String? = null): ActionResult =
        actBytes(action, paramsBytes(params), idempotencyKey)

    /**
     * [act] with the params as JSON text, e.g. a model's tool-call arguments: parsed strictly by
     * the core, so a duplicate key is refused (`invalid_json`), not silently resolved.
     */
    suspend fun actJson(action: String, paramsJson: String, idempotencyKey: String? = null): ActionResult =
        actBytes(action, strictUtf8(paramsJson), idempotencyKey)

    private suspend fun actBytes(action: String, params: ByteArray, idempotencyKey: String?): ActionResult {
        requireNonEmpty("action", action)
        return ffiCall { ffi.act(action, params, idempotencyKey).toResult() }
    }

    /** `GET /v1/actions`: `{actions: [{name, description, schema}]}`. */
    suspend fun actions(): JsonObject = ffiCall { parseJson(ffi.actions()) as JsonObject }

    /** `GET /v1/receipts/{id}`: one receipt. */
    suspend fun receipt(receiptId: String): JsonObject {
        requireNonEmpty("receiptId", receiptId)
        return ffiCall { parseJson(ffi.receipt(receiptId)) as JsonObject }
    }

    /** `GET /v1/receipts?after=&limit=`: `{receipts, next_after}`. */
    suspend fun receipts(after: Long = 0, limit: Int? = null): JsonObject {
        if (after < 0) throw localError("invalid_request", "after must be a non-negative integer")
        if (limit != null && limit < 0) throw localError("invalid_request", "limit must be non-negative")
        return ffiCall { parseJson(ffi.receipts(after.toULong(), limit?.toUInt())) as JsonObject }
    }

    /**
     * The catalog as LLM tool definitions (one per action; `parameters` = the action's JSON
     * Schema). Remembers the tool names for [actionForTool] and [callTool].
     *
     * @throws InvalidRequest when two actions would share a tool name.
     */
    suspend fun toolDefinitions(): List<ToolDefinition> {
        val catalog = actions()
        val defs = (catalog["actions"] as? JsonArray).orEmpty().filterIsInstance<JsonObject>().map { a ->
            val name = (a["name"] as? JsonPrimitive)?.contentOrNull
                ?: throw localError("rail_unavailable", "the catalog lists an action without a name")
            ToolDefinition.of(name, (a["description"] as? JsonPrimitive)?.contentOrNull, a["schema"] as? JsonObject)
        }
        val names = HashMap<String, String>()
        for (d in defs) {
            val prev = names.put(d.name, d.action)
            if (prev != null && prev != d.action) {
                throw localError(
                    "invalid_request",
                    "actions \"$prev\" and \"${d.action}\" map to the same tool name ${d.name}",
                )
            }
        }
        tools.clear()
        tools.putAll(names)
        return defs
    }

    /** The action a tool name of the last [toolDefinitions] stands for, or null. */
    fun actionForTool(name: String): String? = tools[name]

    /**
     * Run an LLM tool call: [name] from [toolDefinitions], [argumentsJson] the JSON text the
     * model produced (parsed strictly by the core). Loads the catalog on first use.
     *
     * @throws InvalidRequest (`unknown_action`) for a name no action has.
     */
    suspend fun callTool(name: String, argumentsJson: String): ActionResult {
        if (tools.isEmpty()) toolDefinitions()
        val action = actionForTool(name)
            ?: throw localError("unknown_action", "no action has the tool name \"$name\"")
        return actJson(action, argumentsJson)
    }

    /** Companion: [fromEnv]. */
    companion object {
        /**
         * A client from `INTENTRAIL_URL`, `INTENTRAIL_API_KEY`, `INTENTRAIL_AGENT_ID` (and
         * `INTENTRAIL_TIMEOUT`, seconds, if set), the variables of the Python and Node SDKs.
         *
         * @param env the environment to read (the process's by default).
         * @param timeout overrides `INTENTRAIL_TIMEOUT`.
         * @throws InvalidRequest naming the missing variables, or for a bad timeout.
         */
        @JvmStatic
        @JvmOverloads
        fun fromEnv(env: Map<String, String> = System.getenv(), timeout: Duration? = null): Rail {
            val names = listOf("INTENTRAIL_URL", "INTENTRAIL_API_KEY", "INTENTRAIL_AGENT_ID")
            val missing = names.filter { env[it].isNullOrEmpty() }
            if (missing.isNotEmpty()) {
                throw localError("invalid_request", "missing environment variables: ${missing.joinToString(", ")}")
            }
            val t = timeout ?: env["INTENTRAIL_TIMEOUT"]?.takeIf { it.isNotEmpty() }?.let { raw ->
                val secs = raw.toDoubleOrNull()
                    ?: throw localError("invalid_request", "INTENTRAIL_TIMEOUT must be a number of seconds")
                (secs * 1000).milliseconds
            } ?: 30.seconds
            return Rail(env.getValue("INTENTRAIL_URL"), env.getValue("INTENTRAIL_API_KEY"), env.getValue("INTENTRAIL_AGENT_ID"), t)
        }
    }
}

private fun requireNonEmpty(name: String, value: String) {
    if (value.isEmpty()) throw localError("invalid_request", "$name must be a non-empty string")
}

internal fun NativeResult.toResult(): ActionResult = ActionResult(
    status = status.toInt(),
    headers = headers,
    body = parseJson(bodyJson),
    receipt = parseJson(receiptJson) as? JsonObject ?: JsonObject(emptyMap()),
    permitId = permitId,
)
