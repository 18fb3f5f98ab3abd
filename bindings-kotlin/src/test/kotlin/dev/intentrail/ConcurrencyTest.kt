package dev.intentrail

import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.runBlocking
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.util.Collections
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import kotlin.concurrent.thread

/** Governed calls suspend their coroutine instead of blocking a thread: many in flight on ONE
 * thread, the JVM's thread count flat. */
class ConcurrencyTest {
    private val demo = Demo.shared

    /** Live JVM threads that are not the test proxy's. */
    private fun sdkSideThreads(): Int = Thread.getAllStackTraces().keys.count { !it.name.startsWith("test-proxy-") }

    /** Sample [sdkSideThreads] while [block] runs; returns (result, peak). */
    private fun <T> withPeakThreads(block: () -> T): Pair<T, Int> {
        val peak = AtomicInteger(sdkSideThreads())
        val running = AtomicBoolean(true)
        val sampler = thread(name = "test-sampler") {
            while (running.get()) {
                peak.accumulateAndGet(sdkSideThreads(), ::maxOf)
                Thread.sleep(5)
            }
        }
        try {
            return block() to peak.get()
        } finally {
            running.set(false)
            sampler.join()
        }
    }

    @Test
    fun `100 concurrent governed calls complete on one thread, without a thread per call`() {
        demo.rail().use { rail ->
            val refund = governed<Refund>(rail, "money.refund")
            runBlocking { refund(Refund(pid(), 1)) } // warm the agent and JWKS caches
            val before = sdkSideThreads()
            val ids = List(100) { pid() }
            val resumedOn = Collections.synchronizedSet(mutableSetOf<String>())
            val (results, peak) = withPeakThreads {
                // runBlocking's event loop: every coroutine below runs on this one thread.
                runBlocking {
                    ids.map { p ->
                        async {
                            val r = refund(Refund(p, 1))
                            resumedOn.add(Thread.currentThread().name.substringBefore(" @coroutine#"))
                            r
                        }
                    }.awaitAll()
                }
            }
            assertEquals(100, results.size)
            assertTrue(results.all { it.status == 200 })
            assertEquals(setOf(Thread.currentThread().name), resumedOn.toSet())
            val seen = demo.requests().map {
                (Json.parseToJsonElement(it["body"]!!.jsonPrimitive.content) as JsonObject)["payment_id"]!!.jsonPrimitive.content
            }.toSet()
            assertTrue(ids.all { it in seen })
            assertTrue(peak - before < 20, "threads grew from $before to $peak for 100 calls in flight")
        }
    }

    @Test
    fun `slow rail answers overlap on one thread - 100 calls take a fraction of 100 sequential ones`() {
        Proxy(demo.railUrl).use { proxy ->
            Rail(proxy.url, demo.apiKey, demo.agentId).use { slow ->
                runBlocking {
                    slow.agent()
                    slow.jwks() // each act is then two slow round trips
                }
                proxy.delayMs = 300
                val refund = governed<Refund>(slow, "money.refund")
                var t0 = System.nanoTime()
                runBlocking { refund(Refund(pid(), 1)) }
                val one = (System.nanoTime() - t0) / 1_000_000
                val before = sdkSideThreads()
                t0 = System.nanoTime()
                val (rs, peak) = withPeakThreads {
                    runBlocking { List(100) { async { refund(Refund(pid(), 1)) } }.awaitAll() }
                }
                val hundred = (System.nanoTime() - t0) / 1_000_000
                assertTrue(rs.all { it.status == 200 })
                println("one slow governed call $one ms; 100 at once on one thread $hundred ms; SDK-side threads $before -> $peak")
                assertTrue(one >= 600, "$one ms")
                // Sequential on one thread would take 100 x one; the rail's own work (a debug build
                // on 2 shared cores) is most of what remains.
                assertTrue(hundred < 10 * one, "$hundred ms for 100 vs $one ms for one")
                assertTrue(peak - before < 20, "threads grew from $before to $peak")
            }
        }
    }
}
