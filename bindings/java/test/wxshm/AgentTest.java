// AgentTest.java: the binding against the real agent and wxemu (with-agent.sh): read, coalesced and sequential compare-and-refresh with one upstream call each, an unknown app.
package wxshm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AgentTest {
        static final int CALLERS = 8;

        @Test
        @Order(1)
        void reads() {
                try (WxShm shop = WxShm.open("shop"); WxShm jsapi = WxShm.open("mall.jsapi")) {
                        WxShm.Token t = shop.read();
                        assertTrue(t.generation() >= 1);
                        assertFalse(t.token().isEmpty());
                        assertFalse(t.stale());
                        assertTrue(t.expiresAtMs() > t.fetchedAtMs());
                        assertEquals(WxShm.State.FRESH, t.state());
                        WxShm.Status s = shop.status();
                        assertTrue(s.alive(), "the agent's heartbeat is recent");
                        assertEquals(Long.parseLong(Agent.env("WXTOKEND_PID")), s.agentPid());
                        assertEquals(0, s.lastErrcode());
                        assertFalse(jsapi.read().token().isEmpty(), "a ticket reads like a token");
                }
        }

        /** Callers of one generation at once, held together by a slow upstream: one request, one upstream call. */
        @Test
        @Order(2)
        void concurrentRefreshesShareOneRequestAndOneUpstreamCall() throws Exception {
                try (WxShm h = WxShm.open("shop")) {
                        WxShm.Token before = h.read();
                        long g = before.generation(), calls = Agent.upstreamCalls("shop"), requests = Client.REQUESTS.get();
                        /* The next token call takes 1.5 s: every caller is waiting before the agent can answer. */
                        Agent.emu("POST", "/emu/fault?app=" + Agent.appid("shop") + "&kind=slow&ms=1500&count=1");
                        ExecutorService ex = Executors.newFixedThreadPool(CALLERS);
                        try {
                                List<Future<Long>> fs = new ArrayList<>();
                                for (int i = 0; i < CALLERS; i++)
                                        fs.add(ex.submit(() -> h.refresh(g, 10_000)));
                                List<Long> got = new ArrayList<>();
                                for (Future<Long> f : fs)
                                        got.add(f.get(20, TimeUnit.SECONDS));
                                for (long r : got)
                                        assertEquals(g + 1, r, "every caller sees the one new generation");
                        } finally {
                                ex.shutdownNow();
                        }
                        assertEquals(1, Client.REQUESTS.get() - requests, "one request for " + CALLERS + " callers");
                        assertEquals(calls + 1, Agent.upstreamCalls("shop"), "one upstream call");
                        WxShm.Token after = h.read();
                        assertEquals(g + 1, after.generation());
                        assertFalse(before.token().equals(after.token()), "a new token (never printed)");
                }
        }

        /** Rotations one after another: each forced generation costs one upstream call; an old generation costs none. */
        @Test
        @Order(3)
        void compareAndRefreshThroughARotation() throws Exception {
                try (WxShm h = WxShm.open("shop")) {
                        int connects = Client.CONNECTS.get();
                        for (int i = 0; i < 2; i++) {
                                WxShm.Token t = h.read();
                                long calls = Agent.upstreamCalls("shop");
                                WxShm.Refreshed r = Agent.forced(h, t.generation());
                                assertEquals(t.generation() + 1, r.generation());
                                assertTrue(r.upstreamCall());
                                assertEquals(calls + 1, Agent.upstreamCalls("shop"), "one upstream call per forced generation");
                                WxShm.Token n = h.read();
                                assertEquals(r.generation(), n.generation(), "the segment has the new generation when refresh returns");
                                assertTrue(n.token().equals(r.token()), "\"token\":true gives the published token (never printed)");
                                assertFalse(t.token().equals(n.token()), "a new token");
                                /* A caller still on the old generation: answered from what is published, no call. */
                                WxShm.Refreshed again = h.refreshDetailed(t.generation(), 10_000);
                                assertEquals(n.generation(), again.generation());
                                assertFalse(again.upstreamCall());
                                assertEquals(calls + 1, Agent.upstreamCalls("shop"));
                        }
                        assertEquals(connects, Client.CONNECTS.get(), "the kept-alive connection served them all");
                }
        }

        @Test
        @Order(4)
        void anUnknownApp() {
                WxShmException e = assertThrows(WxShmException.class, () -> WxShm.open("nosuchapp"));
                assertEquals(WxShmException.Kind.NOT_FOUND, e.kind());
                assertEquals("ENOENT", e.errnoName());
                /* The agent's answer for a name it does not know, through the binding's request. */
                e = assertThrows(WxShmException.class, () -> Refresh.ask(Path.of(Agent.env("WXTOKEND_SOCKET")), null,
                                                                          "nosuchapp", 1, 1000));
                assertEquals(WxShmException.Kind.NOT_FOUND, e.kind());
                assertEquals(2, e.errno());
        }

        @Test
        @Order(5)
        void aSocketWhereNoAgentListens() {
                WxShm.Options o = WxShm.Options.fromEnvironment().withSocket(Path.of("/nonexistent/wxtokend.sock"));
                try (WxShm h = WxShm.open("shop", o)) {
                        WxShmException e = assertThrows(WxShmException.class, () -> h.refresh(h.read().generation(), 1000));
                        assertEquals(WxShmException.Kind.NOT_FOUND, e.kind());
                        assertEquals("shop", h.name());
                }
        }
}
