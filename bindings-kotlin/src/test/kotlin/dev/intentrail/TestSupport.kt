package dev.intentrail

import com.sun.net.httpserver.HttpExchange
import com.sun.net.httpserver.HttpServer
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.jsonPrimitive
import java.net.InetSocketAddress
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.Paths
import java.security.SecureRandom
import java.time.Duration
import java.util.Collections
import java.util.HexFormat
import java.util.concurrent.Executors
import java.util.concurrent.ThreadFactory
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import kotlin.io.path.readText

// Shared by the tests: the repository, the real `intentrail demo` rail, the demo payments
// API's request log, and a scriptable HTTP proxy in front of the rail. Connection details hold
// keys: nothing here prints them.

/** The repository root (`-Dintentrail.repo`, set by the pom; else `INTENTRAIL_REPO`). */
val REPO: Path = Paths.get(
    System.getProperty("intentrail.repo") ?: System.getenv("INTENTRAIL_REPO") ?: "..",
).toAbsolutePath().normalize()

private val http: HttpClient = HttpClient.newBuilder()
    .version(HttpClient.Version.HTTP_1_1)
    .connectTimeout(Duration.ofSeconds(10))
    .build()

fun httpGet(url: String): Pair<Int, String> {
    val r = http.send(
        HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).GET().build(),
        HttpResponse.BodyHandlers.ofString(),
    )
    return r.statusCode() to r.body()
}

private val random = SecureRandom()

/** A fresh payment id. */
fun pid(): String = "pay_" + HexFormat.of().formatHex(ByteArray(6).also { random.nextBytes(it) })

/** The running `intentrail demo` rail (one per JVM, started at first use). */
class Demo private constructor(
    val railUrl: String,
    val apiKey: String,
    val adminKey: String,
    val agentId: String,
    val downstreamUrl: String,
    val envFile: Path,
) {
    /** A client of the demo agent. */
    fun rail(timeout: kotlin.time.Duration = kotlin.time.Duration.parse("30s")): Rail =
        Rail(railUrl, apiKey, agentId, timeout)

    /** What the demo payments API has received so far. */
    fun requests(): List<JsonObject> {
        val (status, body) = httpGet("$downstreamUrl/__requests")
        check(status == 200) { "GET /__requests answered $status" }
        return (Json.parseToJsonElement(body) as JsonObject)["requests"].let { it as JsonArray }
            .map { it as JsonObject }
    }

    /** The demo API's requests whose body mentions [paymentId]. */
    fun received(paymentId: String): List<JsonObject> =
        requests().filter { it["body"]!!.jsonPrimitive.content.contains(paymentId) }

    /** Keys stay out of printed forms. */
    override fun toString(): String = "Demo($railUrl)"

    companion object {
        private fun binary(): Path {
            val b = Paths.get(System.getenv("INTENTRAIL_BIN") ?: REPO.resolve("target/debug/intentrail").toString())
            check(Files.isRegularFile(b)) {
                "rail binary $b not found: run `cargo build -p intentrail-server --bin intentrail` or set INTENTRAIL_BIN"
            }
            return b
        }

        /** The demo rail of this JVM. */
        val shared: Demo by lazy { start() }

        private fun start(): Demo {
            val tmp = Files.createTempDirectory("intentrail-kotlin-")
            val envFile = tmp.resolve("demo.json")
            val log = tmp.resolve("rail.log").toFile()
            val proc = ProcessBuilder(
                binary().toString(), "demo", "--port", "0", "--no-tour",
                "--env-file", envFile.toString(), "--dir", tmp.resolve("work").toString(),
            ).redirectErrorStream(true).redirectOutput(log).redirectInput(ProcessBuilder.Redirect.PIPE).start()
            proc.outputStream.close()
            Runtime.getRuntime().addShutdownHook(
                Thread {
                    proc.destroy()
                    if (!proc.waitFor(10, TimeUnit.SECONDS)) proc.destroyForcibly()
                },
            )
            val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60)
            var env: JsonObject? = null
            while (System.nanoTime() < deadline && proc.isAlive) {
                env = runCatching { Json.parseToJsonElement(envFile.readText()) as JsonObject }.getOrNull()
                if (env != null) break
                Thread.sleep(50)
            }
            if (env == null) {
                proc.destroyForcibly()
                val shown = log.readLines().filterNot { it.contains("key", ignoreCase = true) }.takeLast(40)
                error("the demo rail did not start:\n${shown.joinToString("\n")}")
            }
            fun s(name: String) = env[name]!!.jsonPrimitive.content
            val d = Demo(s("rail_url"), s("api_key"), s("admin_key"), s("agent_id"), s("downstream_url"), envFile)
            while (true) {
                val ok = runCatching { httpGet("${d.railUrl}/healthz").first == 200 }.getOrDefault(false)
                if (ok) break
                check(System.nanoTime() < deadline) { "the demo rail did not answer /healthz" }
                Thread.sleep(50)
            }
            return d
        }
    }
}

/**
 * An HTTP proxy in front of [target]: [rewrite] may change JSON request bodies (a tampering
 * rail); [delayMs] is slept before forwarding (a slow rail); [seen] lists the paths forwarded.
 * Its threads are named `test-proxy-*`.
 */
class Proxy(target: String) : AutoCloseable {
    private val target = target.trimEnd('/')

    @Volatile
    var rewrite: ((String, JsonObject) -> JsonObject)? = null

    @Volatile
    var delayMs: Long = 0

    val seen: MutableList<String> = Collections.synchronizedList(mutableListOf())

    private val threads = AtomicInteger()
    private val pool = Executors.newCachedThreadPool(
        ThreadFactory { r -> Thread(r, "test-proxy-${threads.incrementAndGet()}").apply { isDaemon = true } },
    )
    private val client: HttpClient = HttpClient.newBuilder()
        .version(HttpClient.Version.HTTP_1_1)
        .executor(pool)
        .build()
    private val server: HttpServer = HttpServer.create(InetSocketAddress("127.0.0.1", 0), 256).apply {
        executor = pool
        createContext("/") { ex -> forward(ex) }
        start()
    }

    val url: String = "http://127.0.0.1:${server.address.port}"

    fun count(path: String): Int = synchronized(seen) { seen.count { it.substringBefore('?') == path } }

    private fun forward(ex: HttpExchange) {
        ex.use {
            val path = ex.requestURI.toString()
            seen.add(path)
            var body = ex.requestBody.readAllBytes()
            val rw = rewrite
            if (rw != null && body.isNotEmpty()) {
                body = rw(path, Json.parseToJsonElement(String(body)) as JsonObject).toString().toByteArray()
            }
            if (delayMs > 0) Thread.sleep(delayMs)
            val req = HttpRequest.newBuilder(URI.create(target + path)).timeout(Duration.ofSeconds(30))
            for (h in listOf("Authorization", "IntentRail-Agent", "Content-Type", "Accept")) {
                ex.requestHeaders.getFirst(h)?.let { req.header(h, it) }
            }
            req.method(ex.requestMethod, HttpRequest.BodyPublishers.ofByteArray(body))
            val resp = client.send(req.build(), HttpResponse.BodyHandlers.ofByteArray())
            resp.headers().firstValue("content-type").ifPresent { ex.responseHeaders.add("Content-Type", it) }
            val data = resp.body()
            ex.sendResponseHeaders(resp.statusCode(), if (data.isEmpty()) -1 else data.size.toLong())
            if (data.isNotEmpty()) ex.responseBody.write(data)
        }
    }

    override fun close() {
        server.stop(0)
        pool.shutdownNow()
    }
}
