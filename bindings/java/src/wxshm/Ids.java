// Ids.java: who this process is (its effective uid) and who root is, for the trust rule and the peer check.
package wxshm;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.UserPrincipal;
import java.nio.file.attribute.UserPrincipalLookupService;

final class Ids {
        private static volatile int euid = Integer.MIN_VALUE;
        private static volatile UserPrincipal root;

        private Ids() {
        }

        /**
         * The effective uid, from /proc/self/status (the JDK has no geteuid); -1 if unknown, which
         * trusts only root and system users. Read once: a JVM does not change its uid.
         */
        static int euid() {
                int u = euid;
                if (u != Integer.MIN_VALUE)
                        return u;
                u = -1;
                try {
                        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                                /* "Uid:\treal\teffective\tsaved\tfs" */
                                if (line.startsWith("Uid:")) {
                                        String[] f = line.substring(4).trim().split("\\s+");
                                        if (f.length >= 2)
                                                u = Integer.parseInt(f[1]);
                                        break;
                                }
                        }
                } catch (IOException | RuntimeException e) {
                        u = -1;
                }
                euid = u;
                return u;
        }

        /**
         * uid 0 as a principal, to compare with SO_PEERCRED's (principals of the JDK compare by
         * id). By the name "root", else by the number: the lookup takes a number only when no
         * user has it as a name.
         */
        static UserPrincipal root() {
                UserPrincipal r = root;
                if (r != null)
                        return r;
                UserPrincipalLookupService lookup = FileSystems.getDefault().getUserPrincipalLookupService();
                try {
                        r = lookup.lookupPrincipalByName("root");
                } catch (IOException e) {
                        try {
                                r = lookup.lookupPrincipalByName("0");
                        } catch (IOException e2) {
                                return null;
                        }
                }
                root = r;
                return r;
        }

        /** Whether name is an item: [A-Za-z0-9_-]{1,64}, optionally "." and a suffix of 1..40 name characters with at most one more dot inside (an account's ticket). */
        static boolean validName(String name) {
                if (name == null)
                        return false;
                int n = run(name, 0, 64);
                if (n == 0)
                        return false;
                if (n == name.length())
                        return true;
                if (name.charAt(n) != '.')
                        return false;
                int m = run(name, n + 1, 40);
                if (m > 0 && n + 1 + m < name.length() && name.charAt(n + 1 + m) == '.') {
                        int k = run(name, n + 2 + m, 40);
                        if (k == 0)
                                return false;
                        m += 1 + k;
                }
                return m > 0 && m <= 40 && n + 1 + m == name.length();
        }

        /** Length of the run of name characters from start, or 0 if longer than max. */
        private static int run(String s, int start, int max) {
                int n = 0;
                for (int i = start; i < s.length(); i++) {
                        char c = s.charAt(i);
                        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
                                break;
                        if (++n > max)
                                return 0;
                }
                return n;
        }
}
