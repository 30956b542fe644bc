// SegFile.java: test fixtures: segment files of any shape, and a writer that publishes through the latch as the agent does.
package wxshm;

import java.io.IOException;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;

final class SegFile {
        final ByteBuffer b = ByteBuffer.allocate(Segment.SIZE).order(ByteOrder.LITTLE_ENDIAN);

        /** A valid header, no token yet, an agent that beats every second. */
        SegFile() {
                b.putLong(Segment.OFF_MAGIC, Segment.MAGIC);
                b.putInt(Segment.OFF_VERSION, Segment.VERSION);
                b.putInt(Segment.OFF_HEADER_SIZE, Segment.HEADER_SIZE);
                b.putLong(Segment.OFF_TOTAL_SIZE, Segment.SIZE);
                b.putInt(Segment.OFF_SLOT_SIZE, Segment.SLOT_SIZE);
                b.putInt(Segment.OFF_TOKEN_CAPACITY, Segment.TOKEN_CAPACITY);
                b.putLong(Segment.OFF_HEARTBEAT_INTERVAL, 1000);
        }

        SegFile put(int off, long v) {
                b.putLong(off, v);
                return this;
        }

        SegFile putInt(int off, int v) {
                b.putInt(off, v);
                return this;
        }

        /** The token in the slot seq selects (seq 0: slot 0). */
        SegFile token(String t, long generation, long expiresAtMs, long fetchedAtMs) {
                int slot = Segment.HEADER_SIZE + (int) (b.getLong(Segment.OFF_SEQ) & 1) * Segment.SLOT_SIZE;
                b.putLong(slot, t.length());
                b.putLong(slot + 8, generation);
                b.putLong(slot + 16, expiresAtMs);
                b.putLong(slot + 24, fetchedAtMs);
                b.put(slot + Segment.SLOT_TOKEN, t.getBytes(StandardCharsets.ISO_8859_1));
                return this;
        }

        SegFile token(String t, long generation) {
                return token(t, generation, System.currentTimeMillis() + 7_200_000L, System.currentTimeMillis());
        }

        Path write(Path file) throws IOException {
                return write(file, Segment.SIZE);
        }

        /** The first size bytes (or zeros after the layout), mode 0640. */
        Path write(Path file, int size) throws IOException {
                byte[] a = new byte[size];
                System.arraycopy(b.array(), 0, a, 0, Math.min(size, Segment.SIZE));
                Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
                Files.write(tmp, a);
                Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-r-----"));
                Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
                return file;
        }

        /** A writer on an existing segment file: publishes as libwxshm's writer does (layout.h). */
        static final class Writer implements AutoCloseable {
                final FileChannel ch;
                final MappedByteBuffer m;

                Writer(Path file) throws IOException {
                        ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
                        m = ch.map(FileChannel.MapMode.READ_WRITE, 0, Segment.SIZE);
                }

                private void slot(int s, byte[] t, long generation, long exp, long fetched) {
                        int base = Segment.HEADER_SIZE + s * Segment.SLOT_SIZE;
                        Segment.LONG.setOpaque(m, base, (long) t.length);
                        Segment.LONG.setOpaque(m, base + 8, generation);
                        Segment.LONG.setOpaque(m, base + 16, exp);
                        Segment.LONG.setOpaque(m, base + 24, fetched);
                        m.put(base + Segment.SLOT_TOKEN, t);
                }

                /** Writes the slot readers do not use, moves them to it, then rewrites the other. */
                void publish(String token, long generation, long exp, long fetched) {
                        byte[] t = token.getBytes(StandardCharsets.ISO_8859_1);
                        long seq = (long) Segment.LONG.getOpaque(m, Segment.OFF_SEQ);
                        slot((int) ((seq + 1) & 1), t, generation, exp, fetched);
                        VarHandle.releaseFence();
                        Segment.LONG.setRelease(m, Segment.OFF_SEQ, seq + 1);
                        VarHandle.fullFence();
                        slot((int) (seq & 1), t, generation, exp, fetched);
                        VarHandle.releaseFence();
                        Segment.LONG.setRelease(m, Segment.OFF_SEQ, seq + 2);
                }

                void set(int off, long v) {
                        Segment.LONG.setRelease(m, off, v);
                }

                @Override
                public void close() throws IOException {
                        ch.close();
                }
        }
}
