// Bench.java: per-call cost of WxShm.read() against Java's baseline (a fresh String of the token's length) and the socket's get, medians of rounds.
package wxshm;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/**
 * Usage: Bench ITEM [OUT]. Reads ITEM from $WXSHM_DIR and asks $WXTOKEND_SOCKET (the real agent).
 * Each round times a batch of each operation; after warm-up rounds (the JIT's), the medians of
 * the measured rounds are printed and, with OUT, written there.
 */
public final class Bench {
        static final int WARMUP_ROUNDS = 5, ROUNDS = 11;
        static final int READS = 2_000_000, GETS = 5_000;
        /* Results escape here, so that no allocation is optimised away on either side. */
        static final Object[] SINK = new Object[16];
        static long sink;

        private Bench() {
        }

        static double baseline(byte[] bytes, int n) {
                long t0 = System.nanoTime();
                for (int i = 0; i < n; i++) {
                        String s = new String(bytes, 0, bytes.length, StandardCharsets.ISO_8859_1);
                        SINK[i & 15] = s;
                        sink += s.charAt(s.length() - 1);
                }
                return (System.nanoTime() - t0) / (double) n;
        }

        /** read(), or (copy) the latch's copy and a new String every time, as after every publish. */
        static double read(WxShm h, int n, boolean copy) {
                long t0 = System.nanoTime();
                for (int i = 0; i < n; i++) {
                        WxShm.Token t = h.read(copy);
                        SINK[i & 15] = t;
                        sink += t.token().charAt(t.token().length() - 1);
                }
                return (System.nanoTime() - t0) / (double) n;
        }

        /** get on the binding's kept-open connection, the reply parsed and its token taken, as a client of the socket would. */
        static double get(Path socket, String item, int n) {
                String line = "{\"op\":\"get\",\"app\":\"" + item + "\"}\n";
                long t0 = System.nanoTime();
                for (int i = 0; i < n; i++) {
                        Map<String, Object> m = Json.parseObject(Client.request(socket, null, line, Client.nowMs() + 5000));
                        Object tok = m.get("token");
                        if (!(tok instanceof String))
                                throw new IllegalStateException("get gave no token");
                        SINK[i & 15] = tok;
                }
                return (System.nanoTime() - t0) / (double) n;
        }

        static double median(double[] a) {
                double[] s = a.clone();
                Arrays.sort(s);
                return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
        }

        public static void main(String[] args) throws Exception {
                String item = args[0];
                WxShm.Options o = WxShm.Options.fromEnvironment();
                try (WxShm h = WxShm.open(item, o)) {
                        byte[] bytes = h.read().token().getBytes(StandardCharsets.ISO_8859_1);
                        double[] b = new double[ROUNDS], r = new double[ROUNDS], c = new double[ROUNDS], g = new double[ROUNDS];
                        for (int round = -WARMUP_ROUNDS; round < ROUNDS; round++) {
                                double bb = baseline(bytes, READS), rr = read(h, READS, false), cc = read(h, READS, true);
                                double gg = get(o.socket(), item, GETS);
                                if (round >= 0) {
                                        b[round] = bb;
                                        r[round] = rr;
                                        c[round] = cc;
                                        g[round] = gg;
                                }
                        }
                        double mb = median(b), mr = median(r), mc = median(c), mg = median(g);
                        String table = String.format(
                                "Java %s (%s): per call, median of %d rounds after %d warm-up rounds%n" +
                                "  baseline new String(%d bytes)     %9.1f ns%n" +
                                "  WxShm.read()                     %9.1f ns  %6.2fx baseline (target <= 2x)%n" +
                                "  WxShm.read(), token just changed %9.1f ns  %6.2fx baseline (the latch's copy, a new String)%n" +
                                "  socket get (kept connection)     %9.1f ns  %6.0fx read (target >= 20x)%n",
                                item, System.getProperty("java.vm.version"), ROUNDS, WARMUP_ROUNDS, bytes.length, mb, mr, mr / mb,
                                mc, mc / mb, mg, mg / mr);
                        System.out.print(table);
                        if (args.length > 1)
                                Files.writeString(Path.of(args[1]), table);
                        if (sink == 42)
                                System.out.println();
                }
        }
}
