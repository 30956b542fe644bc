// Refresh.java: the refresh request line and the meaning of the agent's reply, as libwxshm's wxshm_refresh.
package wxshm;

import java.nio.file.Path;
import java.nio.file.attribute.UserPrincipal;
import java.util.Map;

final class Refresh {
        private Refresh() {
        }

        /** One request; name passed Ids.validName, so nothing in it needs escaping. */
        static String line(String name, long generation, long timeoutMs) {
                return "{\"op\":\"refresh\",\"app\":\"" + name + "\",\"generation\":" + generation + ",\"timeout_ms\":" +
                       timeoutMs + ",\"token\":true}\n";
        }

        static WxShm.Refreshed ask(Path socket, UserPrincipal owner, String name, long generation, long timeoutMs) {
                long deadline = Client.nowMs() + timeoutMs + WxShm.REPLY_SLACK_MS;
                return parse(Client.request(socket, owner, line(name, generation, timeoutMs), deadline));
        }

        private static WxShmException protocol(String why) {
                return new WxShmException(WxShmException.Kind.PROTOCOL, "the agent's reply " + why);
        }

        /** The reply line as a result, or the failure it names (errors map as in libwxshm). */
        static WxShm.Refreshed parse(String reply) {
                Map<String, Object> m;
                try {
                        m = Json.parseObject(reply);
                } catch (IllegalArgumentException e) {
                        throw protocol("is not a JSON object (" + e.getMessage() + ")");
                }
                Object ok = m.get("ok");
                if (ok == Boolean.TRUE) {
                        Object g = m.get("generation");
                        if (!(g instanceof Long) || (Long) g < 0 || (Long) g >= WxShm.GENERATION_LIMIT)
                                throw protocol("has no valid generation");
                        Object token = m.get("token"), exp = m.get("expires_at");
                        if (token != null && !(token instanceof String && validToken((String) token)))
                                throw protocol("has a token that is not 1 to 2048 printable ASCII characters");
                        if (exp != null && !(exp instanceof Long))
                                throw protocol("has an expires_at that is not an integer");
                        return new WxShm.Refreshed((Long) g, exp == null ? 0 : (Long) exp, m.get("upstream_call") == Boolean.TRUE,
                                                   m.get("verified") == Boolean.TRUE, (String) token);
                }
                if (ok != Boolean.FALSE || !(m.get("error") instanceof String))
                        throw protocol("has neither ok:true nor ok:false with an error");
                String code = (String) m.get("error");
                switch (code) {
                case "rate_limited": {
                        Object after = m.get("retry_after_ms");
                        long ms = after instanceof Long && (Long) after >= 0 ? (Long) after : -1;
                        throw new WxShmException(WxShmException.Kind.RATE_LIMITED,
                                                 "forced refreshes are spaced; read again" + (ms >= 0 ? " in " + ms + " ms" : " later"), ms);
                }
                case "timeout":
                        throw new WxShmException(WxShmException.Kind.TIMEOUT, "no new generation within the timeout");
                case "upstream_failed":
                        throw new WxShmException(WxShmException.Kind.UPSTREAM, "the upstream call failed; the old token stays published");
                case "too_many_waiters":
                        throw new WxShmException(WxShmException.Kind.TOO_MANY_WAITERS, "too many callers wait for this app");
                case "permission_denied":
                        throw new WxShmException(WxShmException.Kind.ACCESS_DENIED, "not allowed to refresh this app");
                case "unknown_app":
                        throw new WxShmException(WxShmException.Kind.NOT_FOUND, "the agent does not know this app");
                case "shutting_down":
                        throw new WxShmException(WxShmException.Kind.AGENT_STOPPING, "the agent is shutting down");
                default:
                        /* bad_request and the like: this binding and the agent disagree about the protocol. */
                        throw protocol("is an error this binding does not know" +
                                       (code.matches("[a-z_]{1,40}") ? " (" + code + ")" : ""));
                }
        }

        /** What a token may be: what the segment may hold, printable ASCII. */
        private static boolean validToken(String t) {
                if (t.isEmpty() || t.length() > Segment.TOKEN_CAPACITY)
                        return false;
                for (int i = 0; i < t.length(); i++) {
                        char c = t.charAt(i);
                        if (c <= 0x20 || c >= 0x7f)
                                return false;
                }
                return true;
        }
}
