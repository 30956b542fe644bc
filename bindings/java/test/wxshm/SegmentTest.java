// SegmentTest.java: open and read against segment files made here: every refusal of the trust rule and the header, stale, retired, removed.
package wxshm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Comparator;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class SegmentTest {
        Path dir;

        @BeforeEach
        void mkdir() throws Exception {
                dir = Files.createTempDirectory("wxshm-java-");
                Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-x--x"));
        }

        @AfterEach
        void rmdir() throws Exception {
                try (Stream<Path> s = Files.walk(dir)) {
                        s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                }
        }

        WxShm open(String item) {
                return WxShm.open(dir, item);
        }

        WxShmException.Kind failure(String item) {
                return assertThrows(WxShmException.class, () -> {
                        try (WxShm h = open(item)) {
                                h.read();
                        }
                }).kind();
        }

        @Test
        void readsAValidToken() throws Exception {
                long exp = System.currentTimeMillis() + 3_600_000L;
                new SegFile().token("tok-en_1", 7, exp, 1234).put(Segment.OFF_STATE, 1).write(dir.resolve("shop"));
                try (WxShm h = open("shop")) {
                        WxShm.Token t = h.read();
                        assertEquals("tok-en_1", t.token());
                        assertEquals(7, t.generation());
                        assertEquals(exp, t.expiresAtMs());
                        assertEquals(1234, t.fetchedAtMs());
                        assertEquals(WxShm.State.FRESH, t.state());
                        assertFalse(t.stale());
                        assertFalse(t.toString().contains("tok-en_1"), "toString shows no token");
                }
        }

        @Test
        void aTokenOfTheFullCapacity() throws Exception {
                String big = "x".repeat(Segment.TOKEN_CAPACITY);
                new SegFile().token(big, 1).write(dir.resolve("big"));
                try (WxShm h = open("big")) {
                        assertEquals(big, h.read().token());
                }
        }

        @Test
        void aStaleTokenIsReturnedMarked() throws Exception {
                new SegFile().token("old", 3, System.currentTimeMillis() - 1, 1).write(dir.resolve("shop"));
                try (WxShm h = open("shop")) {
                        WxShm.Token t = h.read();
                        assertEquals("old", t.token());
                        assertTrue(t.stale());
                        assertTrue(h.read().stale(), "a stale token is never kept as fresh");
                }
        }

        @Test
        void noTokenYet() throws Exception {
                new SegFile().write(dir.resolve("shop"));
                assertEquals(WxShmException.Kind.NO_DATA, failure("shop"));
        }

        @Test
        void aLengthBeyondTheSlotIsCorrupt() throws Exception {
                new SegFile().token("abc", 1).put(Segment.HEADER_SIZE, 2049).write(dir.resolve("shop"));
                assertEquals(WxShmException.Kind.BAD_SEGMENT, failure("shop"));
                new SegFile().token("abc", 1).put(Segment.HEADER_SIZE, -1).write(dir.resolve("shop"));
                assertEquals(WxShmException.Kind.BAD_SEGMENT, failure("shop"));
        }

        @Test
        void refusesWhatIsNoSegment() throws Exception {
                new SegFile().token("abc", 1).write(dir.resolve("short"), Segment.SIZE - 8);
                assertEquals(WxShmException.Kind.BAD_SEGMENT, failure("short"));
                new SegFile().token("abc", 1).write(dir.resolve("long"), Segment.SIZE + 8);
                assertEquals(WxShmException.Kind.BAD_SEGMENT, failure("long"));
                new SegFile().token("abc", 1).put(Segment.OFF_MAGIC, 0x1234).write(dir.resolve("foreign"));
                assertEquals(WxShmException.Kind.BAD_SEGMENT, failure("foreign"));
                new SegFile().token("abc", 1).putInt(Segment.OFF_SLOT_SIZE, 2000).write(dir.resolve("geometry"));
                assertEquals(WxShmException.Kind.BAD_SEGMENT, failure("geometry"));
                new SegFile().token("abc", 1).put(Segment.OFF_TOTAL_SIZE, 9999).write(dir.resolve("total"));
                assertEquals(WxShmException.Kind.BAD_SEGMENT, failure("total"));
                Files.createDirectory(dir.resolve("adir"));
                assertEquals(WxShmException.Kind.BAD_SEGMENT, failure("adir"));
        }

        @Test
        void aNewerLayoutAsksForAnUpgrade() throws Exception {
                new SegFile().token("abc", 1).putInt(Segment.OFF_VERSION, 2).write(dir.resolve("v2"));
                assertEquals(WxShmException.Kind.VERSION, failure("v2"));
                new SegFile().token("abc", 1).putInt(Segment.OFF_VERSION, 2).write(dir.resolve("v2big"), 8192);
                WxShmException e = assertThrows(WxShmException.class, () -> open("v2big"));
                assertEquals(WxShmException.Kind.VERSION, e.kind());
                assertEquals("EPROTONOSUPPORT", e.errnoName());
                assertEquals(93, e.errno());
        }

        @Test
        void aSegmentStillBeingCreatedIsBusy() throws Exception {
                new SegFile().put(Segment.OFF_MAGIC, 0).write(dir.resolve("creating"));
                WxShmException e = assertThrows(WxShmException.class, () -> open("creating"));
                assertEquals(WxShmException.Kind.BUSY, e.kind());
                assertEquals("EAGAIN", e.errnoName());
        }

        /* The agent's openat made it and has not sized it yet: try again, not corrupt; after open's few retries, not a hang. */
        @Test
        void aSegmentNotSizedYetIsBusy() throws Exception {
                new SegFile().write(dir.resolve("unsized"), 0);
                WxShmException e = assertThrows(WxShmException.class, () -> open("unsized"));
                assertEquals(WxShmException.Kind.BUSY, e.kind());
                assertEquals("EAGAIN", e.errnoName());
                assertEquals(11, e.errno());
        }

        @Test
        void aSegmentFinishedWhileOpeningIsRead() throws Exception {
                Path f = new SegFile().token("late", 1).put(Segment.OFF_MAGIC, 0).write(dir.resolve("late"));
                Thread t = new Thread(() -> {
                        try (SegFile.Writer w = new SegFile.Writer(f)) {
                                Thread.sleep(5);
                                w.set(Segment.OFF_MAGIC, Segment.MAGIC);
                        } catch (Exception e) {
                                throw new RuntimeException(e);
                        }
                });
                t.start();
                try (WxShm h = open("late")) {
                        assertEquals("late", h.read().token());
                }
                t.join();
        }

        @Test
        void missingIsNotFound() throws Exception {
                WxShmException e = assertThrows(WxShmException.class, () -> open("missing"));
                assertEquals(WxShmException.Kind.NOT_FOUND, e.kind());
                assertEquals(2, e.errno());
                e = assertThrows(WxShmException.class, () -> WxShm.open(dir.resolve("nodir"), "shop"));
                assertEquals(WxShmException.Kind.NOT_FOUND, e.kind());
        }

        @Test
        void badNamesNeverTouchTheFileSystem() throws Exception {
                new SegFile().token("abc", 1).write(dir.resolve("ok"));
                for (String bad : new String[] { "", ".", "..", "a/b", "../ok", "a.b.c.d", "a..c", "a.b.", "a.", ".a", "x".repeat(65),
                                                 "a." + "y".repeat(41), "caf\u00e9", "a b", "ok\u0000" }) {
                        WxShmException e = assertThrows(WxShmException.class, () -> open(bad), bad);
                        assertEquals(WxShmException.Kind.INVALID_ARGUMENT, e.kind());
                        assertEquals("EINVAL", e.errnoName());
                }
                assertThrows(WxShmException.class, () -> open(null));
        }

        @Test
        void longestNamesFit() throws Exception {
                String name = "n".repeat(64) + "." + "s".repeat(40);
                assertEquals(105, name.length());
                new SegFile().token("abc", 1).write(dir.resolve(name));
                new SegFile().token("def", 1).write(dir.resolve("platform.wx0123456789abcdef"));
                try (WxShm a = open(name); WxShm b = open("platform.wx0123456789abcdef")) {
                        assertEquals("abc", a.read().token());
                        assertEquals("def", b.read().token());
                }
        }

        @Test
        void aSymbolicLinkIsNotTrusted() throws Exception {
                new SegFile().token("abc", 1).write(dir.resolve("real"));
                Files.createSymbolicLink(dir.resolve("link"), dir.resolve("real"));
                WxShmException e = assertThrows(WxShmException.class, () -> open("link"));
                assertEquals(WxShmException.Kind.NOT_TRUSTED, e.kind());
                assertEquals("EPERM", e.errnoName());
        }

        @Test
        void aFifoIsNeverOpened() throws Exception {
                Process p = new ProcessBuilder("mkfifo", dir.resolve("fifo").toString()).start();
                assertEquals(0, p.waitFor());
                assertEquals(WxShmException.Kind.BAD_SEGMENT, failure("fifo"));
        }

        @Test
        void aDirectoryOthersCanWriteIsNotTrusted() throws Exception {
                new SegFile().token("abc", 1).write(dir.resolve("shop"));
                Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwx--x"));
                assertEquals(WxShmException.Kind.NOT_TRUSTED, failure("shop"));
                Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-x-wx"));
                assertEquals(WxShmException.Kind.NOT_TRUSTED, failure("shop"));
        }

        static void chown(Path p, String owner) throws Exception {
                Process c = new ProcessBuilder("chown", "-h", owner, p.toString()).inheritIO().start();
                assertEquals(0, c.waitFor());
        }

        @Test
        void aFileOfAnotherOwnerIsNotTrusted() throws Exception {
                assumeTrue(Ids.euid() == 0, "needs root to give a file away");
                chown(new SegFile().token("abc", 1).write(dir.resolve("shop")), "1");
                assertEquals(WxShmException.Kind.NOT_TRUSTED, failure("shop"));
        }

        @Test
        void anOrdinaryUsersDirectoryIsTrustedOnlyByThatUser() throws Exception {
                assumeTrue(Ids.euid() == 0, "needs root to give a directory away");
                chown(new SegFile().token("abc", 1).write(dir.resolve("shop")), "4321");
                chown(dir, "4321");
                assertEquals(WxShmException.Kind.NOT_TRUSTED, failure("shop"));
                chown(dir, "999");
                chown(dir.resolve("shop"), "999");
                try (WxShm h = open("shop")) {
                        assertEquals("abc", h.read().token(), "a system user's directory is trusted");
                }
        }

        @Test
        void retiredIsReopenedOnce() throws Exception {
                Path f = new SegFile().token("first", 1).write(dir.resolve("shop"));
                try (WxShm h = open("shop")) {
                        assertEquals("first", h.read().token());
                        /* The agent retires the object and makes a new one under the name. */
                        try (SegFile.Writer w = new SegFile.Writer(f)) {
                                new SegFile().token("second", 2).write(dir.resolve("shop"));
                                w.set(Segment.OFF_RETIRED, 1);
                        }
                        assertEquals("second", h.read().token());
                        assertEquals(2, h.read().generation());
                        /* Retired again, and the name holds the same retired object: EIDRM. */
                        try (SegFile.Writer w = new SegFile.Writer(f)) {
                                w.set(Segment.OFF_RETIRED, 1);
                        }
                        new SegFile().token("third", 3).put(Segment.OFF_RETIRED, 7).write(dir.resolve("shop"));
                        WxShmException e = assertThrows(WxShmException.class, h::read);
                        assertEquals(WxShmException.Kind.RETIRED, e.kind());
                        assertEquals("EIDRM", e.errnoName());
                }
        }

        @Test
        void retiredAndGoneIsTheReopensError() throws Exception {
                Path f = new SegFile().token("first", 1).write(dir.resolve("shop"));
                try (WxShm h = open("shop")) {
                        h.read();
                        try (SegFile.Writer w = new SegFile.Writer(f)) {
                                w.set(Segment.OFF_RETIRED, 1);
                        }
                        Files.delete(f);
                        assertEquals(WxShmException.Kind.NOT_FOUND, assertThrows(WxShmException.class, h::read).kind());
                }
        }

        @Test
        void removedIsNeverReopened() throws Exception {
                Path f = new SegFile().token("first", 1).write(dir.resolve("shop"));
                try (WxShm h = open("shop")) {
                        h.read();
                        try (SegFile.Writer w = new SegFile.Writer(f)) {
                                w.set(Segment.OFF_RETIRED, 2);
                        }
                        new SegFile().token("second", 2).write(dir.resolve("shop"));
                        WxShmException e = assertThrows(WxShmException.class, h::read);
                        assertEquals(WxShmException.Kind.REMOVED, e.kind());
                        assertEquals("ENXIO", e.errnoName());
                        assertEquals(6, e.errno());
                        assertEquals(WxShmException.Kind.REMOVED, assertThrows(WxShmException.class, h::status).kind());
                }
                try (WxShm h = open("shop")) {
                        assertEquals("second", h.read().token(), "a new open names what is there now");
                }
        }

        @Test
        @SuppressWarnings("try")
        void oneMappingPerItem() throws Exception {
                new SegFile().token("abc", 1).write(dir.resolve("shop"));
                new SegFile().token("def", 1).write(dir.resolve("mall"));
                try (WxShm a = open("shop"); WxShm b = open("shop"); WxShm c = open("mall")) {
                        assertSame(a.read().token(), b.read().token(), "one mapping, one cached token");
                        assertNotSame(a.read().token(), c.read().token());
                        a.close();
                        assertEquals("abc", b.read().token(), "the other handle still reads");
                        assertThrows(IllegalStateException.class, a::read);
                }
        }

        @Test
        void aNewGenerationIsSeenAndAnUnchangedOneAllocatesNothing() throws Exception {
                Path f = new SegFile().token("one", 1).write(dir.resolve("shop"));
                try (WxShm h = open("shop"); SegFile.Writer w = new SegFile.Writer(f)) {
                        WxShm.Token t1 = h.read();
                        assertSame(t1, h.read(), "unchanged: the same Token");
                        long exp = System.currentTimeMillis() + 100_000;
                        w.publish("two-two", 2, exp, 5);
                        WxShm.Token t2 = h.read();
                        assertEquals("two-two", t2.token());
                        assertEquals(2, t2.generation());
                        assertEquals(exp, t2.expiresAtMs());
                        /* Same generation, other bytes (an agent restarted without its state): seen. */
                        w.publish("two-TWO", 2, exp, 5);
                        assertEquals("two-TWO", h.read().token());
                        w.set(Segment.OFF_STATE, 2);
                        assertEquals(WxShm.State.REFRESHING, h.read().state());
                }
        }

        @Test
        void statusWords() throws Exception {
                long now = System.currentTimeMillis();
                new SegFile().token("abc", 1).put(Segment.OFF_PID, 4242).put(Segment.OFF_HEARTBEAT, now)
                        .put(Segment.OFF_STATE, 3).put(Segment.OFF_ERRCODE, 40013).put(Segment.OFF_ERROR_AT, now - 5)
                        .write(dir.resolve("shop"));
                new SegFile().token("abc", 1).put(Segment.OFF_PID, 4242).put(Segment.OFF_HEARTBEAT, now - 3001)
                        .put(Segment.OFF_STATE, 99).write(dir.resolve("dead"));
                try (WxShm h = open("shop"); WxShm d = open("dead")) {
                        WxShm.Status s = h.status();
                        assertEquals(4242, s.agentPid());
                        assertEquals(now, s.heartbeatMs());
                        assertEquals(1000, s.heartbeatIntervalMs());
                        assertTrue(s.alive());
                        assertEquals(WxShm.State.RETRYING, s.state());
                        assertEquals(40013, s.lastErrcode());
                        assertEquals(now - 5, s.lastErrorAtMs());
                        assertFalse(d.status().alive(), "a heartbeat over three intervals old");
                        assertEquals(WxShm.State.UNKNOWN, d.status().state());
                        assertEquals("config_error", WxShm.State.CONFIG_ERROR.wireName());
                }
        }
}
