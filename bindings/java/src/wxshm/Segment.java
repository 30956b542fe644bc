// Segment.java: one mapped wxshm segment: the trust rule on open, the header checks, and the latch read.
package wxshm;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.UserPrincipal;
import java.util.Map;

/**
 * A segment mapped read-only (doc/segment.md is the layout and the rules). Immutable but for what
 * the agent writes into the mapping; shared by every handle of its item in the process.
 */
final class Segment {
        static final int SIZE = 4416;
        static final int HEADER_SIZE = 192;
        static final int SLOT_SIZE = 2112;
        static final int TOKEN_CAPACITY = 2048;
        static final long MAGIC = 0x4745534d48535857L; /* "WXSHMSEG" little-endian */
        static final int VERSION = 1;

        static final int OFF_MAGIC = 0, OFF_VERSION = 8, OFF_HEADER_SIZE = 12, OFF_TOTAL_SIZE = 16;
        static final int OFF_SLOT_SIZE = 24, OFF_TOKEN_CAPACITY = 28, OFF_HEARTBEAT_INTERVAL = 32;
        static final int OFF_RETIRED = 40, OFF_SEQ = 64, OFF_PID = 128, OFF_HEARTBEAT = 136;
        static final int OFF_STATE = 144, OFF_ERRCODE = 152, OFF_ERROR_AT = 160;
        static final int SLOT_TOKEN = 64;

        /** Attempts of the latch per read, as libwxshm; the caller retries a few times more. */
        static final int READ_ATTEMPTS = 1024;
        /** Opens of a segment the agent is still creating (0 bytes, or magic 0): 20 x 1 ms, then BUSY. */
        static final int OPEN_ATTEMPTS = 20;
        /** Owners up to this uid are system users, trusted by everyone (as libwxshm). */
        static final int SYSTEM_UID_MAX = 999;

        /* Byte offsets, little-endian 8-byte words: every supported host is little-endian. */
        static final VarHandle LONG = MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
        static final VarHandle INT = MethodHandles.byteBufferViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);

        final ByteBuffer map;
        final int ownerUid;
        final UserPrincipal owner;
        final long heartbeatIntervalMs;

        /**
         * The last token read consistently, and the value of seq it was read at. A slot is written
         * only while seq selects the other one, and seq only grows in an object: while seq holds
         * that value, the slot it selects holds that token, so a read that finds it needs no copy.
         */
        private Last last;

        /** Immutable (final fields: safe to publish through a plain field). */
        private static final class Last {
                final long seq;
                final WxShm.Token token;

                Last(long seq, WxShm.Token token) {
                        this.seq = seq;
                        this.token = token;
                }
        }

        private Segment(ByteBuffer map, int ownerUid, UserPrincipal owner) {
                this.map = map;
                this.ownerUid = ownerUid;
                this.owner = owner;
                this.heartbeatIntervalMs = (long) LONG.get(map, OFF_HEARTBEAT_INTERVAL);
        }

        static WxShmException fail(WxShmException.Kind kind, String message) {
                return new WxShmException(kind, message);
        }

        /** An I/O exception of the file system as libwxshm's errno. */
        static WxShmException ioFailure(String what, IOException e) {
                if (e instanceof NoSuchFileException)
                        return new WxShmException(WxShmException.Kind.NOT_FOUND, what + ": no such file", e);
                if (e instanceof AccessDeniedException)
                        return new WxShmException(WxShmException.Kind.ACCESS_DENIED, what + ": permission denied", e);
                if (e instanceof NotDirectoryException)
                        return WxShmException.system("ENOTDIR", 20, what + ": not a directory", e);
                String reason = e instanceof FileSystemException ? ((FileSystemException) e).getReason() : e.getMessage();
                if (reason != null && reason.startsWith("Too many levels of symbolic links"))
                        return new WxShmException(WxShmException.Kind.NOT_TRUSTED, what + ": a symbolic link", e);
                return WxShmException.system(what + ": " + reason, e);
        }

        /**
         * Opens dir/item under the trust rule of doc/segment.md. The JVM has no openat or fstat:
         * the directory is checked, then the file by path without following links, then opened
         * without following links; once the directory passes, only its owner can change its names.
         */
        static Segment open(Path dir, String item) {
                for (int attempt = 1;; attempt++) {
                        try {
                                Segment s = openOnce(dir, item);
                                if (s != null)
                                        return s;
                        } catch (WxShmException e) {
                                if (e.kind() != WxShmException.Kind.BUSY || attempt >= OPEN_ATTEMPTS)
                                        throw e;
                        }
                        if (attempt >= OPEN_ATTEMPTS)
                                throw fail(WxShmException.Kind.BUSY, dir + "/" + item + " changed under every open");
                        try {
                                Thread.sleep(1);
                        } catch (InterruptedException e) {
                                Thread.currentThread().interrupt();
                                throw WxShmException.system("EINTR", 4, "interrupted while opening " + item, e);
                        }
                }
        }

        private static Map<String, Object> stat(Path p) throws IOException {
                return Files.readAttributes(p, "unix:mode,uid,owner,ino,dev,size,isRegularFile,isDirectory,isSymbolicLink",
                                            LinkOption.NOFOLLOW_LINKS);
        }

        /** One try; null when the file changed between its check and its open (retried). */
        private static Segment openOnce(Path dir, String item) {
                Path real, file;
                Map<String, Object> d, f, after;

                try {
                        /* As libwxshm's open(dir, O_PATH|O_DIRECTORY): the directory's own links are followed. */
                        real = dir.toRealPath();
                        d = stat(real);
                } catch (IOException e) {
                        throw ioFailure(dir.toString(), e);
                }
                if (!(Boolean) d.get("isDirectory"))
                        throw WxShmException.system("ENOTDIR", 20, real + ": not a directory", null);
                file = real.resolve(item);
                try {
                        f = stat(file);
                } catch (IOException e) {
                        throw ioFailure(file.toString(), e);
                }
                if ((Boolean) f.get("isSymbolicLink"))
                        throw fail(WxShmException.Kind.NOT_TRUSTED, file + ": a symbolic link");
                int dirMode = (Integer) d.get("mode"), dirUid = (Integer) d.get("uid"), uid = (Integer) f.get("uid");
                if ((dirMode & 022) != 0)
                        throw fail(WxShmException.Kind.NOT_TRUSTED, real + " is writable by group or others");
                if (uid != dirUid)
                        throw fail(WxShmException.Kind.NOT_TRUSTED, file + " is not owned by the directory's owner");
                if (dirUid < 0 || (dirUid > SYSTEM_UID_MAX && dirUid != Ids.euid()))
                        throw fail(WxShmException.Kind.NOT_TRUSTED, real + " belongs to another ordinary user");
                /* Never opened unless regular: without O_NONBLOCK a FIFO would block the open. */
                if (!(Boolean) f.get("isRegularFile"))
                        throw fail(WxShmException.Kind.BAD_SEGMENT, file + " is not a regular file");

                try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
                        /* The file key before and after the open: a rename in between is seen, and retried. */
                        after = stat(file);
                        if (!after.get("ino").equals(f.get("ino")) || !after.get("dev").equals(f.get("dev")) ||
                            !after.get("uid").equals(f.get("uid")))
                                return null;
                        long size = ch.size();
                        /* 0 bytes: the agent's openat made it and has not sized it yet (retried by open). */
                        if (size == 0)
                                throw fail(WxShmException.Kind.BUSY, file + " is still being created (not sized yet)");
                        if (size != SIZE)
                                throw otherLayout(ch, size, file);
                        MappedByteBuffer m = ch.map(FileChannel.MapMode.READ_ONLY, 0, SIZE);
                        /* The mapping keeps the file alive; the channel closes here. */
                        validate(m, file);
                        return new Segment(m, uid, (UserPrincipal) f.get("owner"));
                } catch (IOException e) {
                        throw ioFailure(file.toString(), e);
                }
        }

        /** A later layout keeps the first 64 bytes' meaning: its version says "upgrade", anything else is no segment. */
        private static WxShmException otherLayout(FileChannel ch, long size, Path file) throws IOException {
                if (size >= OFF_SEQ) {
                        ByteBuffer head = ch.map(FileChannel.MapMode.READ_ONLY, 0, OFF_SEQ);
                        if ((long) LONG.getAcquire(head, OFF_MAGIC) == MAGIC && (int) INT.get(head, OFF_VERSION) != VERSION)
                                return fail(WxShmException.Kind.VERSION, file + ": layout version " +
                                            Integer.toUnsignedString((int) INT.get(head, OFF_VERSION)));
                }
                return fail(WxShmException.Kind.BAD_SEGMENT, file + ": " + size + " bytes, not " + SIZE);
        }

        private static void validate(ByteBuffer m, Path file) {
                /* Acquire pairs with the writer's release of magic: the rest of the header is set. */
                long magic = (long) LONG.getAcquire(m, OFF_MAGIC);
                if (magic == 0)
                        throw fail(WxShmException.Kind.BUSY, file + " is still being created");
                if (magic != MAGIC)
                        throw fail(WxShmException.Kind.BAD_SEGMENT, file + " is not a wxshm segment");
                if ((int) INT.get(m, OFF_VERSION) != VERSION)
                        throw fail(WxShmException.Kind.VERSION, file + ": layout version " +
                                   Integer.toUnsignedString((int) INT.get(m, OFF_VERSION)));
                if ((int) INT.get(m, OFF_HEADER_SIZE) != HEADER_SIZE || (int) INT.get(m, OFF_SLOT_SIZE) != SLOT_SIZE ||
                    (int) INT.get(m, OFF_TOKEN_CAPACITY) != TOKEN_CAPACITY || (long) LONG.get(m, OFF_TOTAL_SIZE) != SIZE)
                        throw fail(WxShmException.Kind.BAD_SEGMENT, file + ": a header of another geometry");
        }

        /** The retired word: 0 live, 2 removed, anything else retired. */
        long retired() {
                return (long) LONG.getOpaque(map, OFF_RETIRED);
        }

        long word(int offset) {
                return (long) LONG.getOpaque(map, offset);
        }

        /**
         * The latch (doc/segment.md): an acquire load of seq, plain copies of the slot, an acquire
         * fence, and an acquire load of seq again; equal, the copy is consistent. When seq is the
         * one the last token was read at, that token (its String and its Token) is returned, with
         * nothing copied or allocated (see {@link #last}). Nothing here reads the clock: see
         * {@link WxShm.Token#stale()}.
         */
        WxShm.Token read() {
                long seq = (long) LONG.getAcquire(map, OFF_SEQ);
                Last l = last;
                return l != null && l.seq == seq ? withState(l) : copy();
        }

        /** The latch's copy, whatever was read before (the conformance test reads through it alone too). */
        WxShm.Token copy() {
                for (int attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
                        long seq = (long) LONG.getAcquire(map, OFF_SEQ);
                        int slot = HEADER_SIZE + (int) (seq & 1) * SLOT_SIZE;
                        long length = (long) LONG.get(map, slot);
                        long generation = (long) LONG.get(map, slot + 8);
                        long expiresAtMs = (long) LONG.get(map, slot + 16);
                        long fetchedAtMs = (long) LONG.get(map, slot + 24);
                        /* A torn length may be anything: it bounds the copy only once checked. */
                        int n = length >= 0 && length <= TOKEN_CAPACITY ? (int) length : 0;
                        byte[] copy = new byte[n];
                        map.get(slot + SLOT_TOKEN, copy, 0, n);
                        /* Orders the copy before the re-check (Boehm 2012, "seqlocks", section 5). */
                        VarHandle.acquireFence();
                        if ((long) LONG.getAcquire(map, OFF_SEQ) != seq)
                                continue;

                        if (length < 0 || length > TOKEN_CAPACITY)
                                throw fail(WxShmException.Kind.BAD_SEGMENT, "a published length beyond the slot");
                        if (generation == 0)
                                throw fail(WxShmException.Kind.NO_DATA, "no token published yet");
                        WxShm.Token t = new WxShm.Token(new String(copy, StandardCharsets.ISO_8859_1), generation, expiresAtMs,
                                                        fetchedAtMs, WxShm.State.of(word(OFF_STATE)));
                        last = new Last(seq, t);
                        return t;
                }
                throw fail(WxShmException.Kind.BUSY, "the writer changed the token during every attempt");
        }

        /** The last token, with the state word as it is now (a single word outside the latch). */
        private WxShm.Token withState(Last l) {
                WxShm.State state = WxShm.State.of(word(OFF_STATE));
                if (l.token.state() == state)
                        return l.token;
                WxShm.Token t = l.token;
                t = new WxShm.Token(t.token(), t.generation(), t.expiresAtMs(), t.fetchedAtMs(), state);
                last = new Last(l.seq, t);
                return t;
        }
}
