package dev.intentrail

import kotlinx.serialization.SerializationStrategy
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.serializer

/**
 * The [Json] that turns a params class into the action's params: defaults are sent (the
 * params the rail sees are the ones the call meant), and a property that is `null` is left out
 * (an absent optional field), as the Python and Node SDKs do.
 */
val GovernedJson: Json = Json {
    encodeDefaults = true
    explicitNulls = false
}

/**
 * A governed action as a typed Kotlin function: calling it with a [P] (a `@Serializable` data
 * class of the action's params) performs the action through [Rail.act] and returns the
 * [ActionResult]. Build it with [governed].
 *
 * @property actionName the governed action (`money.refund`).
 * @property toolDefinition its LLM tool definition ([description] and [schema] if given).
 */
class GovernedAction<P>(
    val actionName: String,
    private val rail: () -> Rail,
    private val serializer: SerializationStrategy<P>,
    private val json: Json = GovernedJson,
    /** What the action does, for a model. */
    val description: String? = null,
    /** The JSON Schema of [P], for a model. */
    val schema: JsonObject? = null,
    private val idempotencyKey: ((P) -> String?)? = null,
) {
    private val resolved: Rail by lazy(rail)

    /** The tool name of [actionName] (`money_refund`). */
    val toolName: String = toolName(actionName)

    val toolDefinition: ToolDefinition = ToolDefinition.of(actionName, description, schema)

    /**
     * Perform the action with [params]: intent, local permit verification, execute.
     *
     * @throws InvalidRequest if [params] does not serialize to a JSON object, and every
     *   [IntentRailException] of [Rail.act].
     */
    suspend operator fun invoke(params: P): ActionResult {
        val text = requireObject(encode { json.encodeToString(serializer, params) })
        return resolved.actJson(actionName, text, idempotencyKey?.invoke(params))
    }

    /** The JSON params [params] stands for (what [invoke] sends). */
    fun paramsOf(params: P): JsonObject = parseJson(requireObject(encode { json.encodeToString(serializer, params) })) as JsonObject

    private fun requireObject(text: String): String {
        if (!text.startsWith("{")) throw localError("invalid_request", "params must serialize to a JSON object")
        return text
    }

    /** `GovernedAction(money.refund)`. */
    override fun toString(): String = "GovernedAction($actionName)"
}

/**
 * The governed action [action] as a typed function of [P] (a `@Serializable` class):
 *
 * ```kotlin
 * @Serializable
 * data class Refund(
 *     @SerialName("payment_id") val paymentId: String,
 *     val amount: Long,
 *     val currency: String = "usd",
 * )
 *
 * val refund = governed<Refund>(rail, "money.refund")
 * val result = refund(Refund("pay_1", 5000))
 * ```
 *
 * [rail] is the [Rail], or null for [Rail.fromEnv] (created at the first call).
 * [idempotencyKey] returns the key to send for a call's params (or null).
 */
inline fun <reified P> governed(
    rail: Rail?,
    action: String,
    description: String? = null,
    schema: JsonObject? = null,
    json: Json = GovernedJson,
    noinline idempotencyKey: ((P) -> String?)? = null,
): GovernedAction<P> = GovernedAction(
    actionName = action,
    rail = if (rail != null) ({ rail }) else ({ Rail.fromEnv() }),
    serializer = serializer<P>(),
    json = json,
    description = description,
    schema = schema,
    idempotencyKey = idempotencyKey,
)

/** [governed] with this rail: `rail.governed<Refund>("money.refund")`. */
@JvmName("governedBy")
inline fun <reified P> Rail.governed(
    action: String,
    description: String? = null,
    schema: JsonObject? = null,
    json: Json = GovernedJson,
    noinline idempotencyKey: ((P) -> String?)? = null,
): GovernedAction<P> = governed(this, action, description, schema, json, idempotencyKey)
