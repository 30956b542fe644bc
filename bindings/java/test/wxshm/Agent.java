// Agent.java: what the agent tests need from tests/conformance/with-agent.sh's environment: wxemu's counters, the config, the agent's pid.
package wxshm;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

final class Agent {
        private static final HttpClient HTTP = HttpClient.newHttpClient();

        private Agent() {
        }

        static String env(String name) {
                String v = System.getenv(name);
                assertNotNull(v, name + " (run under tests/conformance/with-agent.sh)");
                return v;
        }

        static String emu(String method, String path) throws IOException, InterruptedException {
                HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(env("WXEMU_URL") + path));
                HttpRequest r = method.equals("POST") ? b.POST(HttpRequest.BodyPublishers.noBody()).build() : b.GET().build();
                HttpResponse<String> res = HTTP.send(r, HttpResponse.BodyHandlers.ofString());
                assertTrue(res.statusCode() == 200, path + ": HTTP " + res.statusCode());
                return res.body();
        }

        /** The app's appid at wxemu (with-agent.sh exports WXEMU_APPID_<app>). */
        static String appid(String app) {
                return env("WXEMU_APPID_" + app);
        }

        /** Upstream token calls wxemu counted for the app (every token endpoint). */
        static long upstreamCalls(String app) throws IOException, InterruptedException {
                String stats = emu("GET", "/emu/stats");
                Matcher m = Pattern.compile("\"" + Pattern.quote(appid(app)) + "\":\\{([^}]*)\\}").matcher(stats);
                assertTrue(m.find(), "wxemu's stats name the app: " + stats);
                long n = 0;
                for (String k : new String[] { "token_calls", "stable_normal", "stable_force", "gettoken_calls" }) {
                        Matcher f = Pattern.compile("\"" + k + "\":(\\d+)").matcher(m.group(1));
                        if (f.find())
                                n += Long.parseLong(f.group(1));
                }
                return n;
        }

        /** refresh(g), waiting out the agent's spacing of forced refreshes (min_force_interval) when it asks to. */
        static WxShm.Refreshed forced(WxShm h, long g) throws InterruptedException {
                long end = System.currentTimeMillis() + 90_000;
                for (;;) {
                        try {
                                return h.refreshDetailed(g, 10_000);
                        } catch (WxShmException e) {
                                if (e.kind() != WxShmException.Kind.RATE_LIMITED || System.currentTimeMillis() > end)
                                        throw e;
                                Thread.sleep(Math.max(e.retryAfterMs(), 50));
                        }
                }
        }
}
