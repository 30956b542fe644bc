// ConformanceTest.java: the kit's checks: >= 1,000,000 reads against wxconf-writer with 0 torn, a control without the re-check that must be caught, and every sample of wxconf-samples.
package wxshm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/** Needs $WXBUILD (the kit's programs in $WXBUILD/tests/conformance). */
class ConformanceTest {
        static final String ALPHA = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        static final String REP;
        static final long BASE_MS = 4102444800000L;
        static final long READS = 1_000_000, GENERATIONS = 1_000;
        /** Time allowed to each loop: far more than either needs on a loaded 2-core machine. */
        static final long LOOP_MS = 60_000;

        static {
                StringBuilder b = new StringBuilder();
                while (b.length() < 64 + 2048)
                        b.append(ALPHA);
                REP = b.toString();
        }

        static Path dir;
        static Process writer;

        static Path kit(String program) {
                String b = System.getenv("WXBUILD");
                assertNotNull(b, "WXBUILD names the build tree");
                return Path.of(b, "tests/conformance", program);
        }

        /** Whether what was read is exactly generation g's (wxconf.h). */
        static boolean matches(long g, String token, long expiresAtMs, long fetchedAtMs) {
                if (g <= 0)
                        return false;
                int len = 1 + (int) ((g * 7919) % 2048), off = (int) ((g * 17) % 64);
                return token.length() == len && expiresAtMs == BASE_MS + g && fetchedAtMs == BASE_MS - g && REP.startsWith(token, off);
        }

        @BeforeAll
        static void startWriter() throws Exception {
                dir = Files.createTempDirectory("wxshm-java-conf-").resolve("segs");
                writer = new ProcessBuilder(kit("wxconf-writer").toString(), dir.toString(), "conf", "100")
                        .redirectError(ProcessBuilder.Redirect.INHERIT).start();
                BufferedReader r = new BufferedReader(new InputStreamReader(writer.getInputStream()));
                String ready = r.readLine();
                assertTrue(ready != null && ready.startsWith("ready "), "the writer says ready: " + ready);
        }

        @AfterAll
        static void stopWriter() throws Exception {
                if (writer != null) {
                        writer.destroy();
                        writer.waitFor();
                }
                if (dir != null) {
                        try (Stream<Path> s = Files.walk(dir.getParent())) {
                                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                        }
                }
        }

        /** reads through read(), or through the latch's copy every time (copy). */
        static void aMillionReads(boolean copy) {
                long reads = 0, torn = 0, busy = 0, generations = 0, last = -1;
                long end = System.nanoTime() + LOOP_MS * 1_000_000;
                try (WxShm h = WxShm.open(dir, "conf")) {
                        while ((reads < READS || generations < GENERATIONS) && System.nanoTime() < end) {
                                WxShm.Token t;
                                try {
                                        t = h.read(copy);
                                } catch (WxShmException e) {
                                        if (e.kind() != WxShmException.Kind.BUSY)
                                                throw e;
                                        busy++;
                                        continue;
                                }
                                reads++;
                                if (!matches(t.generation(), t.token(), t.expiresAtMs(), t.fetchedAtMs()))
                                        torn++;
                                if (t.generation() != last) {
                                        generations++;
                                        last = t.generation();
                                }
                        }
                }
                System.out.println("conformance" + (copy ? " (copy every time)" : "") + ": " + reads + " reads, " + generations +
                                   " generations, " + torn + " torn, " + busy + " busy");
                assertEquals(0, torn, "torn copies");
                assertTrue(reads >= READS, "reads: " + reads);
                assertTrue(generations >= GENERATIONS, "generations: " + generations);
        }

        @Test
        void aMillionReadsNoneTorn() {
                aMillionReads(false);
        }

        /** read() copies only when seq moved: here every read copies, so the copy itself meets the kit's count. */
        @Test
        void aMillionCopiesNoneTorn() {
                aMillionReads(true);
        }

        /** The latch with its second load of seq left out, on a mapping of its own: the kit must catch it. */
        @Test
        void aReaderWithoutTheRecheckIsCaught() throws Exception {
                ByteBuffer m;
                try (FileChannel ch = FileChannel.open(dir.resolve("conf"), StandardOpenOption.READ)) {
                        m = ch.map(FileChannel.MapMode.READ_ONLY, 0, Segment.SIZE);
                }
                byte[] buf = new byte[Segment.TOKEN_CAPACITY];
                long reads = 0, torn = 0;
                long end = System.nanoTime() + LOOP_MS * 1_000_000;
                while (torn == 0 && System.nanoTime() < end) {
                        long seq = (long) Segment.LONG.getAcquire(m, Segment.OFF_SEQ);
                        int slot = Segment.HEADER_SIZE + (int) (seq & 1) * Segment.SLOT_SIZE;
                        long length = (long) Segment.LONG.get(m, slot);
                        long g = (long) Segment.LONG.get(m, slot + 8);
                        long exp = (long) Segment.LONG.get(m, slot + 16);
                        long fetched = (long) Segment.LONG.get(m, slot + 24);
                        int n = length >= 0 && length <= Segment.TOKEN_CAPACITY ? (int) length : 0;
                        m.get(slot + Segment.SLOT_TOKEN, buf, 0, n);
                        java.lang.invoke.VarHandle.acquireFence();
                        /* No second load of seq: whatever was copied is taken. */
                        reads++;
                        if (!matches(g, new String(buf, 0, n, StandardCharsets.ISO_8859_1), exp, fetched))
                                torn++;
                }
                System.out.println("control: " + torn + " torn in " + reads + " reads");
                assertTrue(torn > 0, "the control was not caught within " + LOOP_MS + " ms: the kit failed to see a torn copy");
        }

        /** Each sample of wxconf-samples, opened then read, gives what DIR/EXPECTED says. */
        @TestFactory
        List<DynamicTest> samples() throws Exception {
                Path sdir = Files.createTempDirectory("wxshm-java-samples-").resolve("samples");
                Process p = new ProcessBuilder(kit("wxconf-samples").toString(), sdir.toString()).inheritIO().start();
                assertEquals(0, p.waitFor(), "wxconf-samples");
                List<DynamicTest> tests = new ArrayList<>();
                for (String line : Files.readAllLines(sdir.resolve("EXPECTED"))) {
                        String[] f = line.split(" ");
                        String item = f[0], expect = f[1];
                        tests.add(DynamicTest.dynamicTest("sample " + item + " " + expect, () -> assertEquals(expect, outcome(sdir, item))));
                }
                assertTrue(tests.size() >= 20, "samples: " + tests.size());
                return tests;
        }

        /** ok, stale, or the errno name, as EXPECTED spells them. */
        static String outcome(Path dir, String item) {
                try (WxShm h = WxShm.open(dir, item)) {
                        WxShm.Token t = h.read();
                        if (!t.stale() && !matches(t.generation(), t.token(), t.expiresAtMs(), t.fetchedAtMs()))
                                fail("not generation " + t.generation() + "'s token: " + t);
                        if (t.stale() && !REP.startsWith(t.token(), 17))
                                fail("a stale token that is not token(1)");
                        return t.stale() ? "stale" : "ok";
                } catch (WxShmException e) {
                        return e.errnoName();
                }
        }
}
