// AgentUserTest.java: run as a user outside the app's group (wxconfuser): reading and refreshing are refused as EACCES.
package wxshm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;

import org.junit.jupiter.api.Test;

class AgentUserTest {
        @Test
        void readingIsRefused() {
                assertNotEquals(0, Ids.euid(), "run as a non-root user");
                WxShmException e = assertThrows(WxShmException.class, () -> WxShm.open("shop"));
                assertEquals(WxShmException.Kind.ACCESS_DENIED, e.kind());
                assertEquals("EACCES", e.errnoName());
                assertTrue(e.getMessage().contains("/shop"), "the file refused, not the way to it: " + e.getMessage());
        }

        @Test
        void refreshingIsRefused() {
                WxShmException e = assertThrows(WxShmException.class, () -> Refresh.ask(Path.of(Agent.env("WXTOKEND_SOCKET")), null,
                                                                                          "shop", 1, 1000));
                assertEquals(WxShmException.Kind.ACCESS_DENIED, e.kind());
                assertEquals(13, e.errno());
        }
}
