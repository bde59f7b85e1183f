package dev.jdiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.pipelines.GenerationRequest;
import dev.jdiffusion.pipelines.StableDiffusionPipeline;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.jdiffusion.server.ServerFixtures.assertSamePixels;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The job queue under load, on loopback only, bounded in count and time: 50 requests from 8 concurrent clients on
 * the tiny model are all answered, none lost or mixed up (each image is its own request's), the queue never holds
 * more than --queue-size (more are refused with 503 at once), memory is flat afterwards; a client that disconnects,
 * running or waiting, neither stalls the queue nor keeps its place.
 */
class QueueLoadTest {
    @TempDir Path outputs;

    static ObjectNode request(int k) {
        return A1111Client.request().put("prompt", "load test request " + k).put("sampler_name", "Euler")
                .put("steps", 2).put("width", 16).put("height", 16).put("seed", 1000 + k);
    }

    static long heapAfterGc() throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(50);
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    @Test
    void fiftyRequestsFromEightClients() throws Exception {
        int distinct = 10, total = 50, clients = 8, queueSize = 3;
        StableDiffusionPipeline direct = StableDiffusionPipeline.load(Fixtures.model("tiny-sd15"));
        List<RgbImage> expected = new ArrayList<>();
        for (int k = 0; k < distinct; k++) {
            expected.add(direct.generate(GenerationRequest.builder("load test request " + k).sampler("euler").steps(2)
                    .guidanceScale(7).seed(1000 + k).size(16, 16).build()).images().getFirst());
        }
        try (JDiffusionServer server = JDiffusionServer.start(ServerFixtures.withQueue(ServerFixtures.options(outputs), queueSize))) {
            A1111Client client = new A1111Client("127.0.0.1", server.port());
            client.txt2img(request(0));  // warm up before measuring memory
            long before = heapAfterGc();

            AtomicInteger next = new AtomicInteger(), answered = new AtomicInteger(), refused = new AtomicInteger();
            AtomicInteger maxWaiting = new AtomicInteger();
            List<String> problems = Collections.synchronizedList(new ArrayList<>());
            CompletableFuture<Void> done = new CompletableFuture<>();
            Thread monitor = Thread.ofPlatform().start(() -> {
                while (!done.isDone()) {
                    maxWaiting.accumulateAndGet(server.waitingJobs(), Math::max);
                    try {
                        Thread.sleep(1);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
            ExecutorService pool = Executors.newFixedThreadPool(clients);
            List<Future<?>> futures = new ArrayList<>();
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
            for (int c = 0; c < clients; c++) {
                futures.add(pool.submit(() -> {
                    A1111Client own = new A1111Client("127.0.0.1", server.port());
                    for (int i = next.getAndIncrement(); i < total; i = next.getAndIncrement()) {
                        int k = i % distinct;
                        while (true) {
                            if (System.nanoTime() > deadline) throw new AssertionError("load test ran out of time");
                            A1111Client.Answer a = own.post("/sdapi/v1/txt2img", request(k));
                            if (a.status() == 503) {
                                refused.incrementAndGet();
                                if (!a.json().get("detail").asText().contains("queue")) problems.add("503 without reason: " + a.body());
                                try {
                                    Thread.sleep(10);
                                } catch (InterruptedException e) {
                                    return;
                                }
                                continue;
                            }
                            A1111Client.Result r = A1111Client.result(A1111Client.ok(a));
                            JsonNode info = r.info();
                            if (info.get("seed").asLong() != 1000 + k || !info.get("prompt").asText().equals("load test request " + k))
                                problems.add("request " + i + " got the answer of another: " + info.get("prompt"));
                            if (!java.util.Arrays.equals(expected.get(k).rgb(), r.images().getFirst().image().rgb()))
                                problems.add("request " + i + " (" + k + "): image differs from the same request made alone");
                            answered.incrementAndGet();
                            break;
                        }
                    }
                }));
            }
            for (Future<?> f : futures) f.get(6, TimeUnit.MINUTES);
            pool.shutdown();
            done.complete(null);
            monitor.join();
            assertEquals(List.of(), problems);
            assertEquals(total, answered.get(), "every request answered");
            assertTrue(maxWaiting.get() <= queueSize, "waiting jobs " + maxWaiting.get() + " > --queue-size " + queueSize);
            assertTrue(refused.get() > 0, "8 clients against 1 running + " + queueSize + " waiting must meet a full queue");
            long after = heapAfterGc();
            assertTrue(after - before < 32L << 20, "heap grew by " + ((after - before) >> 20) + " MiB over 50 requests");
        }
    }

    /** A raw HTTP request that the test can abandon by closing its socket. */
    static Socket startRequest(int port, ObjectNode body) throws IOException {
        Socket s = new Socket("127.0.0.1", port);
        byte[] json = body.toString().getBytes(StandardCharsets.UTF_8);
        OutputStream out = s.getOutputStream();
        out.write(("POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: "
                + json.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.write(json);
        out.flush();
        return s;
    }

    @Test
    void clientsThatDisconnectFreeTheirPlaceAndStopTheirJob() throws Exception {
        try (JDiffusionServer server = JDiffusionServer.start(ServerFixtures.withQueue(ServerFixtures.options(outputs), 1))) {
            A1111Client client = new A1111Client("127.0.0.1", server.port());
            ObjectNode longJob = request(1).put("steps", 500).put("width", 32).put("height", 32);
            Socket running = startRequest(server.port(), longJob.deepCopy().put("force_task_id", "task(long-a)"));
            A1111ApiTest.waitFor(() -> client.progress(true), p -> p.get("state").get("sampling_step").asInt() >= 1);
            Socket waiting = startRequest(server.port(), longJob.deepCopy().put("force_task_id", "task(long-b)"));
            A1111ApiTest.waitFor(server::waitingJobs, n -> n == 1);
            assertEquals(503, client.post("/sdapi/v1/txt2img", request(2)).status(), "queue full: one running, one waiting");

            waiting.close();  // its place is freed at once
            A1111ApiTest.waitFor(server::waitingJobs, n -> n == 0);
            CompletableFuture<A1111Client.Result> queued = CompletableFuture.supplyAsync(() -> client.txt2img(request(3)));
            A1111ApiTest.waitFor(server::waitingJobs, n -> n == 1);

            JsonNode p = client.progress(true);
            assertEquals("task(long-a)", p.get("current_task").asText());
            int stepAtClose = p.get("state").get("sampling_step").asInt();
            running.close();  // the running job stops at its next step; the queue goes on
            A1111Client.Result r = queued.get(2, TimeUnit.MINUTES);
            assertEquals(1003, r.info().get("seed").asLong());
            assertTrue(stepAtClose < 450, "the long job would still be computing");
            assertEquals(0, client.progress(true).get("state").get("job_count").asInt(), "idle");
        }
    }
}
