// ClientTest.java: refresh over a scripted socket: the line sent, keep-alive, one reconnect, garbage, silence, coalescing, the peer check.
package wxshm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class ClientTest {
        static final String OK5 = "{\"ok\":true,\"generation\":5,\"expires_at\":1,\"upstream_call\":true,\"token\":\"NEWTOKEN\"}";
        Path dir;
        Path sock;
        WxShm h;

        @BeforeEach
        void setUp() throws Exception {
                dir = Files.createTempDirectory("wxshm-java-client-");
                Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-x--x"));
                new SegFile().token("tok", 4).write(dir.resolve("shop"));
                sock = dir.resolve("agent.sock");
                h = WxShm.open("shop", WxShm.Options.fromEnvironment().withDir(dir).withSocket(sock));
        }

        @AfterEach
        void tearDown() throws Exception {
                h.close();
                Client.dropIdle();
                try (Stream<Path> s = Files.walk(dir)) {
                        s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                }
        }

        @Test
        void sendsOneLineAndClampsTheTimeout() throws Exception {
                try (FakeAgent a = new FakeAgent(sock, (l, n, c, k) -> OK5)) {
                        WxShm.Refreshed r = h.refreshDetailed(4, 1500);
                        assertEquals(5, r.generation());
                        assertEquals("NEWTOKEN", r.token());
                        assertTrue(r.upstreamCall());
                        assertEquals(5, h.refresh(4, 0));
                        assertEquals(5, h.refresh(4, -7));
                        assertEquals(5, h.refresh(4, 999_999));
                        assertEquals(List.of(Refresh.line("shop", 4, 1500), Refresh.line("shop", 4, 5000),
                                             Refresh.line("shop", 4, 5000), Refresh.line("shop", 4, 60000)), a.lines);
                }
        }

        @Test
        void keepsTheConnection() throws Exception {
                try (FakeAgent a = new FakeAgent(sock, (l, n, c, k) -> OK5)) {
                        for (int i = 0; i < 5; i++)
                                assertEquals(5, h.refresh(4, 1000));
                        assertEquals(1, a.connections.get());
                        assertEquals(5, a.lines.size());
                }
        }

        @Test
        void reconnectsOnceWhenAnIdleConnectionWasDropped() throws Exception {
                /* The agent evicts idle connections when full: each connection serves one request here. */
                try (FakeAgent a = new FakeAgent(sock, (l, n, c, k) -> k == 0 ? OK5 : null)) {
                        assertEquals(5, h.refresh(4, 1000));
                        assertEquals(5, h.refresh(4, 1000));
                        assertEquals(5, h.refresh(4, 1000));
                        assertEquals(3, a.connections.get());
                }
        }

        @Test
        void aDropBeforeTheReplyIsRetriedOnceOnly() throws Exception {
                try (FakeAgent a = new FakeAgent(sock, (l, n, c, k) -> n == 0 ? OK5 : null)) {
                        assertEquals(5, h.refresh(4, 1000));
                        WxShmException e = assertThrows(WxShmException.class, () -> h.refresh(4, 1000));
                        assertEquals(WxShmException.Kind.PROTOCOL, e.kind());
                        assertEquals(3, a.lines.size(), "the first request, then the second on the kept and on a new connection");
                }
        }

        @Test
        void aFreshConnectionClosedBeforeTheReplyIsNotRetried() throws Exception {
                try (FakeAgent a = new FakeAgent(sock, (l, n, c, k) -> null)) {
                        assertEquals(WxShmException.Kind.PROTOCOL, assertThrows(WxShmException.class, () -> h.refresh(4, 1000)).kind());
                        assertEquals(1, a.lines.size());
                }
        }

        @Test
        void aPartialReplyIsNotRetried() throws Exception {
                try (FakeAgent a = new FakeAgent(sock, (l, n, c, k) -> n == 0 ? OK5 : FakeAgent.RAW + "{\"ok\":tr")) {
                        assertEquals(5, h.refresh(4, 1000));
                        assertEquals(WxShmException.Kind.PROTOCOL, assertThrows(WxShmException.class, () -> h.refresh(4, 1000)).kind());
                        assertEquals(2, a.lines.size());
                }
        }

        @Test
        void garbageAndOverlongRepliesAreProtocolErrors() throws Exception {
                String[] replies = { "garbage", "{\"ok\":true}", "\u00ff\u00fe", FakeAgent.RAW + "x".repeat(5000) + "\n",
                                     FakeAgent.RAW + "{\"ok\":true,\"generation\":5}\n{\"ok\":true,\"generation\":6}\n" };
                for (String r : replies) {
                        try (FakeAgent a = new FakeAgent(sock, (l, n, c, k) -> r.startsWith(FakeAgent.RAW) ? r : r)) {
                                if (r.contains("\"generation\":6")) {
                                        /* A reply line with bytes after it: taken, but the connection is out of step: not kept. */
                                        assertEquals(5, h.refresh(4, 1000));
                                        assertEquals(5, h.refresh(4, 1000));
                                        assertEquals(2, a.connections.get());
                                } else {
                                        assertEquals(WxShmException.Kind.PROTOCOL,
                                                     assertThrows(WxShmException.class, () -> h.refresh(4, 1000)).kind(), r);
                                }
                        }
                        Client.dropIdle();
                }
        }

        @Test
        void silenceTimesOut() throws Exception {
                try (FakeAgent a = new FakeAgent(sock, (l, n, c, k) -> FakeAgent.SILENT)) {
                        WxShmException e = assertThrows(WxShmException.class, () -> h.refresh(4, 1));
                        assertEquals(WxShmException.Kind.TIMEOUT, e.kind());
                        assertEquals("ETIMEDOUT", e.errnoName());
                        assertEquals(List.of(Refresh.line("shop", 4, 1)), a.lines);
                }
        }

        @Test
        void noAgent() throws Exception {
                WxShmException e = assertThrows(WxShmException.class, () -> h.refresh(4, 1000));
                assertEquals(WxShmException.Kind.NOT_FOUND, e.kind());
                assertEquals("ENOENT", e.errnoName());
                /* A socket file nobody listens on. */
                FakeAgent a = new FakeAgent(sock, (l, n, c, k) -> OK5);
                a.server.close();
                e = assertThrows(WxShmException.class, () -> h.refresh(4, 1000));
                assertEquals(WxShmException.Kind.AGENT_STOPPING, e.kind());
                assertEquals("ECONNREFUSED", e.errnoName());
                a.close();
        }

        @Test
        void badGenerationsAreRefusedBeforeAsking() throws Exception {
                try (FakeAgent a = new FakeAgent(sock, (l, n, c, k) -> OK5)) {
                        for (long g : new long[] { -1, 1L << 53, Long.MAX_VALUE, Long.MIN_VALUE }) {
                                WxShmException e = assertThrows(WxShmException.class, () -> h.refresh(g, 1000));
                                assertEquals(WxShmException.Kind.INVALID_ARGUMENT, e.kind());
                        }
                        assertEquals(5, h.refresh((1L << 53) - 1, 1000));
                        assertEquals(1, a.lines.size());
                }
        }

        /** n threads refresh(gen) at once while the agent holds its answer until all but one wait on the first. */
        List<Object> concurrent(FakeAgent a, WxShm[] hs, long gen, int n, CountDownLatch answer) throws Exception {
                ExecutorService ex = Executors.newFixedThreadPool(n);
                try {
                        List<Future<Object>> fs = new ArrayList<>();
                        for (int i = 0; i < n; i++) {
                                WxShm hh = hs[i % hs.length];
                                fs.add(ex.submit(() -> {
                                        try {
                                                return hh.refresh(gen, 5000);
                                        } catch (WxShmException e) {
                                                return e;
                                        }
                                }));
                        }
                        /* The first request reached the agent; the others wait on it. */
                        assertTrue(a.received.poll(10, TimeUnit.SECONDS) != null);
                        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                        while (h.waiters(gen) < n - 1) {
                                assertTrue(System.nanoTime() < end, "the other callers wait on the first request: " + h.waiters(gen));
                                Thread.onSpinWait();
                        }
                        answer.countDown();
                        List<Object> out = new ArrayList<>();
                        for (Future<Object> f : fs)
                                out.add(f.get(10, TimeUnit.SECONDS));
                        return out;
                } finally {
                        ex.shutdownNow();
                }
        }

        @Test
        void concurrentRefreshesOfOneGenerationShareOneRequest() throws Exception {
                CountDownLatch answer = new CountDownLatch(1);
                try (FakeAgent a = new FakeAgent(sock, (l, n, c, k) -> {
                        answer.await();
                        return OK5;
                }); WxShm other = WxShm.open("shop", WxShm.Options.fromEnvironment().withDir(dir).withSocket(sock))) {
                        List<Object> got = concurrent(a, new WxShm[] { h, other }, 4, 8, answer);
                        for (Object o : got)
                                assertEquals(5L, o);
                        assertEquals(1, a.lines.size(), "eight callers over two handles, one request");
                        assertEquals(-1, h.waiters(4), "nothing left in flight");
                        /* Another generation is another request. */
                        assertEquals(5, h.refresh(3, 1000));
                        assertEquals(2, a.lines.size());
                }
        }

        @Test
        void aSharedFailureReachesEveryCaller() throws Exception {
                CountDownLatch answer = new CountDownLatch(1);
                try (FakeAgent a = new FakeAgent(sock, (l, n, c, k) -> {
                        answer.await();
                        return "{\"ok\":false,\"error\":\"rate_limited\",\"message\":\"m\",\"retry_after_ms\":900}";
                })) {
                        for (Object o : concurrent(a, new WxShm[] { h }, 4, 4, answer)) {
                                assertTrue(o instanceof WxShmException);
                                assertEquals(WxShmException.Kind.RATE_LIMITED, ((WxShmException) o).kind());
                                assertEquals(900, ((WxShmException) o).retryAfterMs());
                        }
                        assertEquals(1, a.lines.size());
                }
        }

        @Test
        void aServerThatIsNeitherTheOwnerNorRootIsNotAsked() throws Exception {
                assumeTrue(Ids.euid() == 0, "needs root to run the server as another user");
                Path pdir = Files.createTempDirectory("wxshm-java-peer-");
                Files.setPosixFilePermissions(pdir, PosixFilePermissions.fromString("rwxrwxrwx"));
                Path psock = pdir.resolve("s");
                String cp = System.getProperty("java.class.path");
                Process p = new ProcessBuilder("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                               System.getProperty("java.home") + "/bin/java", "-Xshare:auto", "-XX:TieredStopAtLevel=1",
                                               "-cp", cp, "wxshm.FakePeer", psock.toString())
                        .redirectError(ProcessBuilder.Redirect.INHERIT).start();
                try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()))) {
                        assertEquals("ready", r.readLine());
                        try (WxShm s = WxShm.open("shop", WxShm.Options.fromEnvironment().withDir(dir).withSocket(psock))) {
                                WxShmException e = assertThrows(WxShmException.class, () -> s.refresh(4, 1000));
                                assertEquals(WxShmException.Kind.NOT_TRUSTED, e.kind());
                                assertEquals("EPERM", e.errnoName());
                        }
                        assertEquals("requests 0", r.readLine(), "nothing was sent to it");
                } finally {
                        p.destroy();
                        p.waitFor();
                        Files.deleteIfExists(psock);
                        Files.delete(pdir);
                }
        }
}
