// AgentEndTest.java: last against the real agent, as they end things: an app removed by a reload (ENXIO on the open handle), then the agent stopped.
package wxshm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AgentEndTest {
        /** The config without its [app NAME] section. */
        static void dropApp(String app) throws Exception {
                Path conf = Path.of(Agent.env("WXTOKEND_CONF"));
                List<String> out = new ArrayList<>();
                boolean skip = false;
                for (String line : Files.readAllLines(conf)) {
                        String l = line.trim();
                        if (l.startsWith("["))
                                skip = l.replaceAll("\\s+", " ").equals("[app " + app + "]");
                        if (!skip)
                                out.add(line);
                }
                Files.write(conf, out);
        }

        @Test
        @Order(1)
        void anAppRemovedFromTheConfig() throws Exception {
                try (WxShm mall = WxShm.open("mall"); WxShm jsapi = WxShm.open("mall.jsapi")) {
                        mall.read();
                        jsapi.read();
                        dropApp("mall");
                        Process p = new ProcessBuilder(Agent.env("WXTOKENCTL"), "reload").inheritIO().start();
                        assertEquals(0, p.waitFor(), "wxtokenctl reload");
                        for (WxShm h : new WxShm[] { mall, jsapi }) {
                                WxShmException e = assertThrows(WxShmException.class, h::read);
                                assertEquals(WxShmException.Kind.REMOVED, e.kind());
                                assertEquals("ENXIO", e.errnoName());
                        }
                        WxShmException e = assertThrows(WxShmException.class, () -> WxShm.open("mall"));
                        assertEquals(WxShmException.Kind.NOT_FOUND, e.kind(), "the name is gone");
                }
        }

        @Test
        @Order(2)
        void theAgentStopped() throws Exception {
                try (WxShm h = WxShm.open("shop")) {
                        WxShm.Token before = h.read();
                        ProcessHandle agent = ProcessHandle.of(Long.parseLong(Agent.env("WXTOKEND_PID"))).orElseThrow();
                        assertTrue(agent.destroy(), "SIGTERM to the agent");
                        agent.onExit().get(30, TimeUnit.SECONDS);
                        WxShm.Token after = h.read();
                        assertTrue(before.token().equals(after.token()), "the token is served until it expires (never printed)");
                        assertFalse(after.stale());
                        assertEquals(WxShm.State.STOPPED, after.state());
                        WxShmException e = assertThrows(WxShmException.class, () -> h.refresh(after.generation(), 1000));
                        assertTrue(Set.of(WxShmException.Kind.NOT_FOUND, WxShmException.Kind.AGENT_STOPPING).contains(e.kind()),
                                   "no agent: " + e);
                }
        }
}
