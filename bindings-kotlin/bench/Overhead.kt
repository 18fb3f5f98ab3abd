// Measure the Kotlin SDK's own cost per governed call (not a test; prints numbers), the same
// three figures as bindings-node/bench/overhead.js and bindings-python/bench/overhead.py:
//
//   bindings-kotlin/bench/overhead.sh path/to/demo.json [N]
//
// 1. local work only: everything `act` does besides waiting for the rail — params data class
//    to JSON text, strict UTF-8, strict parse + JCS + SHA-256 (payload hash), EdDSA permit
//    verification, result conversion — timed in a loop with no network (after a JIT warm-up).
// 2. end to end, sequential: a `governed` refund against the local rail vs. a bare keep-alive
//    java.net.http client making the same two requests (intent, execute) with no checks,
//    interleaved; medians. The difference is the SDK's overhead including its HTTP stack
//    (reqwest on the native tokio runtime) and the hop between the coroutine and the runtime.
// 3. CPU time of this JVM per governed call (Kotlin + native threads; the rail is another
//    process).
package dev.intentrail.bench

import dev.intentrail.ActionResult
import dev.intentrail.GovernedJson
import dev.intentrail.Rail
import dev.intentrail.governed
import dev.intentrail.payloadHashJson
import dev.intentrail.verifyPermit
import kotlinx.coroutines.runBlocking
import kotlinx.serialization.SerialName
import kotlinx.serialization.Serializable
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import java.io.File
import java.lang.management.ManagementFactory
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse

/** The params of `money.refund`. */
@Serializable
data class BenchRefund(
    @SerialName("payment_id") val paymentId: String,
    val amount: Long,
    val currency: String = "usd",
    val reason: String? = null,
)

private fun cpuNanos(): Long =
    (ManagementFactory.getOperatingSystemMXBean() as com.sun.management.OperatingSystemMXBean).processCpuTime

private fun median(xs: List<Double>): Double = xs.sorted()[xs.size / 2]

fun main(args: Array<String>): Unit = runBlocking {
    val env = Json.parseToJsonElement(File(args[0]).readText()).jsonObject
    fun s(name: String) = env[name]!!.jsonPrimitive.content
    val n = args.getOrNull(1)?.toInt() ?: 300
    val rail = Rail(s("rail_url"), s("api_key"), s("agent_id"))
    val agent = rail.agent()
    val jwks = rail.jwks()
    val refund = governed<BenchRefund>(rail, "money.refund")
    val params = BenchRefund("pay_bench", 1, reason = "bench")
    val permit = rail.intent("money.refund", refund.paramsOf(params)) // one real permit, verified repeatedly
    val now = System.currentTimeMillis() / 1000
    val body = """{"id":"re_1","object":"refund","status":"succeeded","amount":1}"""
    val receipt = """{"id":"rct_1","seq":1,"hash":"sha256:x"}"""

    fun local() {
        val text = GovernedJson.encodeToString(BenchRefund.serializer(), params)
        payloadHashJson(text)
        verifyPermit(permit.token, jwks, agent.audience, agent.issuer, now)
        ActionResult(200, mapOf("content-type" to "application/json"), Json.parseToJsonElement(body),
            Json.parseToJsonElement(receipt).jsonObject, null)
    }
    repeat(20_000) { local() } // JIT warm-up
    val iterations = n * 10
    var t0 = System.nanoTime()
    repeat(iterations) { local() }
    val localUs = (System.nanoTime() - t0) / 1e3 / iterations
    t0 = System.nanoTime()
    repeat(iterations) { verifyPermit(permit.token, jwks, agent.audience, agent.issuer, now) }
    val verifyUs = (System.nanoTime() - t0) / 1e3 / iterations
    println("local work per call (serialize + strict UTF-8 + strict parse + JCS + SHA-256 + EdDSA verify + result): %.1f µs (of which EdDSA permit verification %.1f µs)".format(localUs, verifyUs))

    val http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()
    val base = s("rail_url")
    fun post(path: String, json: String): String {
        val req = HttpRequest.newBuilder(URI.create(base + path))
            .header("authorization", "Bearer ${s("api_key")}")
            .header("intentrail-agent", s("agent_id"))
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(json)).build()
        return http.send(req, HttpResponse.BodyHandlers.ofString()).body()
    }
    fun bare(p: String) {
        val paramsJson = """{"payment_id":"$p","amount":1,"currency":"usd"}"""
        val intent = Json.parseToJsonElement(post("/v1/intents", """{"action":"money.refund","params":$paramsJson}""")).jsonObject
        val token = intent["permit"]!!.jsonPrimitive.content
        val done = Json.parseToJsonElement(post("/v1/execute", """{"permit":"$token","params":$paramsJson}""")).jsonObject
        check(done["status"]!!.jsonPrimitive.content == "200") { "bare execute failed" }
    }
    repeat(30) { // warm both paths (JIT, connections, caches)
        refund(BenchRefund("pay_kw$it", 1))
        bare("pay_kr$it")
    }
    val sdkTimes = ArrayList<Double>()
    val bareTimes = ArrayList<Double>()
    var cpuSdk = 0L
    var cpuBare = 0L
    for (i in 0 until n) {
        var c0 = cpuNanos()
        t0 = System.nanoTime()
        refund(BenchRefund("pay_kb$i", 1))
        sdkTimes += (System.nanoTime() - t0) / 1e3
        cpuSdk += cpuNanos() - c0
        c0 = cpuNanos()
        t0 = System.nanoTime()
        bare("pay_ks$i")
        bareTimes += (System.nanoTime() - t0) / 1e3
        cpuBare += cpuNanos() - c0
    }
    val sdk = median(sdkTimes)
    val b = median(bareTimes)
    println("means: SDK %.2f ms, bare %.2f ms".format(sdkTimes.average() / 1000, bareTimes.average() / 1000))
    println("medians: governed call via the SDK %.2f ms; bare java.net.http intent+execute: %.2f ms; difference %.2f ms".format(sdk / 1000, b / 1000, (sdk - b) / 1000))
    println("CPU time of this JVM per call: SDK %.2f ms (Kotlin + native threads), bare java.net.http %.2f ms".format(cpuSdk / 1e6 / n, cpuBare / 1e6 / n))
    rail.close()
}
