// ReplyTest.java: the strict JSON parser and what each reply of the agent means, garbled replies included.
package wxshm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.Test;

class ReplyTest {
        @Test
        void parsesFlatObjects() {
                Map<String, Object> m = Json.parseObject(
                        " {\"ok\":true,\"generation\":12,\"n\":-3,\"d\":1.5e3,\"s\":\"a\\\"b\\\\c\\/\\n\\u00e9\\uD83D\\uDE00\",\"z\":null,\"f\":false} ");
                assertEquals(Boolean.TRUE, m.get("ok"));
                assertEquals(12L, m.get("generation"));
                assertEquals(-3L, m.get("n"));
                assertEquals(1500.0, m.get("d"));
                assertEquals("a\"b\\c/\n\u00e9\uD83D\uDE00", m.get("s"));
                assertSame(Json.NULL, m.get("z"));
                assertEquals(Boolean.FALSE, m.get("f"));
                assertTrue(Json.parseObject("{}").isEmpty());
                assertTrue(Json.parseObject("{\"big\":99999999999999999999}").get("big") instanceof Double);
        }

        @Test
        void nestedValuesAreCheckedAndSkipped() {
                Map<String, Object> m = Json.parseObject("{\"ok\":true,\"x\":{\"a\":[1,{\"b\":[]},\"s\"]},\"generation\":4}");
                assertSame(Json.NESTED, m.get("x"));
                assertEquals(4L, m.get("generation"));
                assertThrows(IllegalArgumentException.class, () -> Json.parseObject("{\"x\":{\"a\":[1,}]}"));
                assertThrows(IllegalArgumentException.class, () -> Json.parseObject("{\"x\":" + "[".repeat(40) + "]".repeat(40) + "}"));
        }

        @Test
        void refusesWhatIsNotStrictJson() {
                String[] bad = {
                        "", " ", "[]", "null", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}", "{\"a\":1}x", "{\"a\":1}{}",
                        "{\"a\":01}", "{\"a\":-}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":1e}", "{\"a\":+1}", "{\"a\":tru}",
                        "{\"a\":True}", "{'a':1}", "{a:1}", "{\"a\":\"x}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12G4\"}",
                        "{\"a\":\"\\u0\"}", "{\"a\":\"tab\there\"}", "{\"a\":1,\"a\":2}", "{\"a\":NaN}", "{\"a\":Infinity}",
                        "{\"a\":\"\\u\uff11\uff12\uff13\uff14\"}", "{\"a\" 1}", "{\"a\":1 \"b\":2}",
                };
                for (String s : bad)
                        assertThrows(IllegalArgumentException.class, () -> Json.parseObject(s), s);
        }

        @Test
        void okReplies() {
                WxShm.Refreshed r = Refresh.parse("{\"ok\":true,\"generation\":5,\"expires_at\":1700000000000,\"upstream_call\":true}");
                assertEquals(5, r.generation());
                assertEquals(1700000000000L, r.expiresAtMs());
                assertTrue(r.upstreamCall());
                assertFalse(r.verified());
                assertNull(r.token());
                r = Refresh.parse("{\"ok\":true,\"generation\":6,\"expires_at\":1,\"verified\":true,\"upstream_call\":false,\"token\":\"AB_c-9\"}");
                assertEquals("AB_c-9", r.token());
                assertTrue(r.verified());
                assertFalse(r.toString().contains("AB_c-9"));
                assertEquals((1L << 53) - 1, Refresh.parse("{\"ok\":true,\"generation\":9007199254740991}").generation());
                assertEquals(0, Refresh.parse("{\"generation\":0,\"ok\":true}").generation(), "any key order");
        }

        static WxShmException failure(String reply) {
                return assertThrows(WxShmException.class, () -> Refresh.parse(reply), reply);
        }

        @Test
        void errorsMapAsLibwxshm() {
                Object[][] cases = {
                        { "rate_limited", WxShmException.Kind.RATE_LIMITED, "EAGAIN", 11 },
                        { "timeout", WxShmException.Kind.TIMEOUT, "ETIMEDOUT", 110 },
                        { "upstream_failed", WxShmException.Kind.UPSTREAM, "EIO", 5 },
                        { "too_many_waiters", WxShmException.Kind.TOO_MANY_WAITERS, "EBUSY", 16 },
                        { "permission_denied", WxShmException.Kind.ACCESS_DENIED, "EACCES", 13 },
                        { "unknown_app", WxShmException.Kind.NOT_FOUND, "ENOENT", 2 },
                        { "shutting_down", WxShmException.Kind.AGENT_STOPPING, "ECONNREFUSED", 111 },
                        { "bad_request", WxShmException.Kind.PROTOCOL, "EPROTO", 71 },
                        { "no_token", WxShmException.Kind.PROTOCOL, "EPROTO", 71 },
                        { "something_new", WxShmException.Kind.PROTOCOL, "EPROTO", 71 },
                };
                for (Object[] c : cases) {
                        WxShmException e = failure("{\"ok\":false,\"error\":\"" + c[0] + "\",\"message\":\"m\"}");
                        assertEquals(c[1], e.kind(), (String) c[0]);
                        assertEquals(c[2], e.errnoName());
                        assertEquals(c[3], e.errno());
                }
                WxShmException e = failure("{\"ok\":false,\"error\":\"rate_limited\",\"message\":\"spaced\",\"retry_after_ms\":1234}");
                assertEquals(1234, e.retryAfterMs());
                assertEquals(-1, failure("{\"ok\":false,\"error\":\"rate_limited\"}").retryAfterMs());
                assertEquals(-1, failure("{\"ok\":false,\"error\":\"timeout\"}").retryAfterMs());
        }

        @Test
        void garbledRepliesAreProtocolErrors() {
                String[] bad = {
                        "", "ok", "{\"ok\":true}", "{\"ok\":true,\"generation\":-1}", "{\"ok\":true,\"generation\":9007199254740992}",
                        "{\"ok\":true,\"generation\":1.0}", "{\"ok\":true,\"generation\":\"1\"}", "{\"ok\":1,\"generation\":1}",
                        "{\"ok\":\"true\",\"generation\":1}", "{\"ok\":false}", "{\"ok\":false,\"error\":7}", "{\"generation\":1}",
                        "{\"ok\":true,\"generation\":1,\"token\":\"\"}", "{\"ok\":true,\"generation\":1,\"token\":\"a b\"}",
                        "{\"ok\":true,\"generation\":1,\"token\":1}", "{\"ok\":true,\"generation\":1,\"token\":\"" + "t".repeat(2049) + "\"}",
                        "{\"ok\":true,\"generation\":1,\"expires_at\":\"x\"}", "{\"ok\":true,\"generation\":1}trailing",
                        "{\"ok\":true,\"generation\":1,\"ok\":true}",
                };
                for (String s : bad)
                        assertEquals(WxShmException.Kind.PROTOCOL, failure(s).kind(), s);
        }

        @Test
        void randomlyDamagedRepliesNeverEscapeAsAnythingElse() {
                String good = "{\"ok\":true,\"generation\":77,\"expires_at\":1700000000000,\"upstream_call\":true,\"token\":\"SECRETtoken\"}";
                Random rnd = new Random(14);
                for (int i = 0; i < 20000; i++) {
                        StringBuilder b = new StringBuilder(good);
                        int edits = 1 + rnd.nextInt(3);
                        for (int k = 0; k < edits; k++) {
                                int at = rnd.nextInt(b.length());
                                switch (rnd.nextInt(3)) {
                                case 0:
                                        b.deleteCharAt(at);
                                        break;
                                case 1:
                                        b.insert(at, (char) rnd.nextInt(128));
                                        break;
                                default:
                                        b.setCharAt(at, (char) rnd.nextInt(128));
                                }
                        }
                        String s = b.toString();
                        try {
                                WxShm.Refreshed r = Refresh.parse(s);
                                assertTrue(r.generation() >= 0 && r.generation() < (1L << 53));
                        } catch (WxShmException e) {
                                assertFalse(e.getMessage().contains("SECRET"), "a message never quotes the reply");
                        }
                }
        }

        @Test
        void theRequestLine() {
                assertEquals("{\"op\":\"refresh\",\"app\":\"shop.jsapi\",\"generation\":3,\"timeout_ms\":5000,\"token\":true}\n",
                             Refresh.line("shop.jsapi", 3, 5000));
        }
}
