// Json.java: a strict parser of one reply line of the agent (a JSON object), with no dependency.
package wxshm;

import java.util.HashMap;
import java.util.Map;

/**
 * Parses exactly one JSON object (RFC 8259) and keeps its top-level members: strings as String,
 * integers that fit a long as Long, other numbers as Double, true/false as Boolean, null as
 * {@link #NULL}. A nested object or array is checked and kept as {@link #NESTED}: an agent that
 * adds one to a reply must not break readers that ignore it. Anything else, a duplicate key or
 * text after the object, is refused with an {@link IllegalArgumentException} whose message
 * says where, never what (a reply may hold a token).
 */
final class Json {
        /** The value of a member that is null. */
        static final Object NULL = new Object();
        /** The value of a member that is an object or an array (not kept). */
        static final Object NESTED = new Object();

        private static final int MAX_DEPTH = 32;

        private final String s;
        private int i;

        private Json(String s) {
                this.s = s;
        }

        static Map<String, Object> parseObject(String text) {
                Json p = new Json(text);
                p.ws();
                Map<String, Object> m = p.object(0, true);
                p.ws();
                if (p.i != text.length())
                        throw p.bad("text after the object");
                return m;
        }

        private IllegalArgumentException bad(String what) {
                return new IllegalArgumentException(what + " at offset " + i);
        }

        private void ws() {
                while (i < s.length()) {
                        char c = s.charAt(i);
                        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
                                return;
                        i++;
                }
        }

        private void expect(char c) {
                if (i >= s.length() || s.charAt(i) != c)
                        throw bad("expected '" + c + "'");
                i++;
        }

        /** An object; its members are kept only at the top (keep). */
        private Map<String, Object> object(int depth, boolean keep) {
                Map<String, Object> m = keep ? new HashMap<>() : null;

                if (depth >= MAX_DEPTH)
                        throw bad("nested too deep");
                expect('{');
                ws();
                if (i < s.length() && s.charAt(i) == '}') {
                        i++;
                        return m;
                }
                for (;;) {
                        ws();
                        String key = string();
                        ws();
                        expect(':');
                        ws();
                        Object v = value(depth);
                        if (keep && m.put(key, v) != null)
                                throw bad("duplicate key");
                        ws();
                        if (i < s.length() && s.charAt(i) == ',') {
                                i++;
                                continue;
                        }
                        expect('}');
                        return m;
                }
        }

        private void array(int depth) {
                if (depth >= MAX_DEPTH)
                        throw bad("nested too deep");
                expect('[');
                ws();
                if (i < s.length() && s.charAt(i) == ']') {
                        i++;
                        return;
                }
                for (;;) {
                        ws();
                        value(depth);
                        ws();
                        if (i < s.length() && s.charAt(i) == ',') {
                                i++;
                                continue;
                        }
                        expect(']');
                        return;
                }
        }

        private Object value(int depth) {
                if (i >= s.length())
                        throw bad("value missing");
                char c = s.charAt(i);
                switch (c) {
                case '"':
                        return string();
                case '{':
                        object(depth + 1, false);
                        return NESTED;
                case '[':
                        array(depth + 1);
                        return NESTED;
                case 't':
                        word("true");
                        return Boolean.TRUE;
                case 'f':
                        word("false");
                        return Boolean.FALSE;
                case 'n':
                        word("null");
                        return NULL;
                default:
                        if (c == '-' || (c >= '0' && c <= '9'))
                                return number();
                        throw bad("not a value");
                }
        }

        private void word(String w) {
                if (!s.startsWith(w, i))
                        throw bad("not a value");
                i += w.length();
        }

        private boolean digit() {
                return i < s.length() && s.charAt(i) >= '0' && s.charAt(i) <= '9';
        }

        private Object number() {
                int start = i;
                boolean integral = true;

                if (s.charAt(i) == '-')
                        i++;
                if (!digit())
                        throw bad("bad number");
                if (s.charAt(i) == '0') {
                        i++;
                } else {
                        while (digit())
                                i++;
                }
                if (i < s.length() && s.charAt(i) == '.') {
                        integral = false;
                        i++;
                        if (!digit())
                                throw bad("bad number");
                        while (digit())
                                i++;
                }
                if (i < s.length() && (s.charAt(i) == 'e' || s.charAt(i) == 'E')) {
                        integral = false;
                        i++;
                        if (i < s.length() && (s.charAt(i) == '+' || s.charAt(i) == '-'))
                                i++;
                        if (!digit())
                                throw bad("bad number");
                        while (digit())
                                i++;
                }
                String text = s.substring(start, i);
                if (integral) {
                        try {
                                return Long.valueOf(text);
                        } catch (NumberFormatException e) {
                                /* Beyond a long: kept as a double, which no caller takes for a count. */
                        }
                }
                return Double.valueOf(text);
        }

        private String string() {
                StringBuilder b = new StringBuilder();

                expect('"');
                for (;;) {
                        if (i >= s.length())
                                throw bad("unterminated string");
                        char c = s.charAt(i++);
                        if (c == '"')
                                return b.toString();
                        if (c < 0x20)
                                throw bad("control character in a string");
                        if (c != '\\') {
                                b.append(c);
                                continue;
                        }
                        if (i >= s.length())
                                throw bad("unterminated escape");
                        char e = s.charAt(i++);
                        switch (e) {
                        case '"': case '\\': case '/':
                                b.append(e);
                                break;
                        case 'b':
                                b.append('\b');
                                break;
                        case 'f':
                                b.append('\f');
                                break;
                        case 'n':
                                b.append('\n');
                                break;
                        case 'r':
                                b.append('\r');
                                break;
                        case 't':
                                b.append('\t');
                                break;
                        case 'u':
                                b.append(hex4());
                                break;
                        default:
                                throw bad("bad escape");
                        }
                }
        }

        private char hex4() {
                if (i + 4 > s.length())
                        throw bad("bad \\u escape");
                int v = 0;
                for (int k = 0; k < 4; k++) {
                        char c = s.charAt(i++);
                        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
                        if (d < 0)
                                throw bad("bad \\u escape");
                        v = v * 16 + d;
                }
                return (char) v;
        }
}
