// Client.java: requests to wxtokend's control socket over kept-alive connections, bounded by one deadline.
package wxshm;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.attribute.UserPrincipal;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.atomic.AtomicInteger;

import jdk.net.ExtendedSocketOptions;
import jdk.net.UnixDomainPrincipal;

/**
 * One request line, one reply line. Connections that completed a request are kept (a few per
 * socket path) and reused; one that the agent closed meanwhile (it evicts idle connections when
 * full) is replaced once, if it failed before any byte of the reply: a refresh of a generation
 * is idempotent, so asking again is safe.
 */
final class Client {
        /** The longest reply line to a refresh or get (wire.h's PROTOCOL_LINE_MAX). */
        static final int LINE_MAX = 4096;
        /** Idle connections kept per socket path. */
        static final int IDLE_MAX = 4;
        /** Waits between connects while the listen backlog is full. */
        static final int CONNECT_RETRY_MS = 10;

        private static final Map<Path, ConcurrentLinkedDeque<Conn>> IDLE = new ConcurrentHashMap<>();
        /** Connections opened, and requests sent, since the start: the tests see reuse and coalescing with them. */
        static final AtomicInteger CONNECTS = new AtomicInteger(), REQUESTS = new AtomicInteger();

        private Client() {
        }

        /** A connection to the agent, used by one request at a time. */
        static final class Conn implements AutoCloseable {
                final SocketChannel ch;
                final Selector sel;
                final UserPrincipal peer;
                final ByteBuffer in = ByteBuffer.allocate(LINE_MAX + 1);

                Conn(SocketChannel ch, Selector sel, UserPrincipal peer) {
                        this.ch = ch;
                        this.sel = sel;
                        this.peer = peer;
                }

                @Override
                public void close() {
                        try {
                                sel.close();
                        } catch (IOException e) {
                                /* nothing to do */
                        }
                        try {
                                ch.close();
                        } catch (IOException e) {
                                /* nothing to do */
                        }
                }
        }

        /** The failure of one exchange, and whether it came before any reply byte on a reused connection. */
        private static final class Retry extends Exception {
                private static final long serialVersionUID = 1L;

                Retry(Throwable cause) {
                        super(null, cause, false, false);
                }
        }

        static long nowMs() {
                return System.nanoTime() / 1_000_000;
        }

        /** An I/O exception of the socket as libwxshm's errno (the JDK keeps only the message). */
        static WxShmException socketFailure(String what, IOException e) {
                String m = e.getMessage() == null ? "" : e.getMessage();
                if (m.contains("No such file or directory"))
                        return new WxShmException(WxShmException.Kind.NOT_FOUND, what + ": no agent socket", e);
                if (m.contains("Connection refused"))
                        return new WxShmException(WxShmException.Kind.AGENT_STOPPING, what + ": the agent is not running", e);
                if (m.contains("Permission denied"))
                        return new WxShmException(WxShmException.Kind.ACCESS_DENIED, what + ": permission denied", e);
                if (m.contains("Connection reset"))
                        return WxShmException.system("ECONNRESET", 104, what + ": connection reset", e);
                if (m.contains("Broken pipe"))
                        return WxShmException.system("EPIPE", 32, what + ": broken pipe", e);
                return WxShmException.system(what + ": " + m, e);
        }

        private static WxShmException interrupted() {
                Thread.currentThread().interrupt();
                return WxShmException.system("EINTR", 4, "interrupted while waiting for the agent", null);
        }

        private static WxShmException timedOut() {
                return new WxShmException(WxShmException.Kind.TIMEOUT, "no reply from the agent in time");
        }

        private static void await(Conn c, int op, long deadline) {
                long left = deadline - nowMs();
                if (left <= 0)
                        throw timedOut();
                try {
                        SelectionKey k = c.ch.keyFor(c.sel);
                        if (k == null)
                                k = c.ch.register(c.sel, op);
                        else
                                k.interestOps(op);
                        c.sel.select(left);
                        c.sel.selectedKeys().clear();
                } catch (ClosedChannelException e) {
                        throw socketFailure("the agent's socket", e);
                } catch (IOException e) {
                        throw socketFailure("the agent's socket", e);
                }
                if (Thread.interrupted())
                        throw interrupted();
        }

        private static Conn connect(Path path, long deadline) {
                SocketChannel ch = null;
                Selector sel = null;

                try {
                        ch = SocketChannel.open(StandardProtocolFamily.UNIX);
                        ch.configureBlocking(false);
                        sel = Selector.open();
                        Conn c = null;
                        for (;;) {
                                try {
                                        if (ch.connect(UnixDomainSocketAddress.of(path)))
                                                break;
                                } catch (IOException e) {
                                        /* A full listen backlog: nothing to poll for, nap and try again. */
                                        if (e.getMessage() == null || !e.getMessage().contains("Resource temporarily unavailable"))
                                                throw e;
                                        if (deadline - nowMs() <= 0)
                                                throw timedOut();
                                        Thread.sleep(CONNECT_RETRY_MS);
                                        continue;
                                }
                                c = new Conn(ch, sel, null);
                                while (!ch.finishConnect())
                                        await(c, SelectionKey.OP_CONNECT, deadline);
                                break;
                        }
                        UnixDomainPrincipal p = ch.getOption(ExtendedSocketOptions.SO_PEERCRED);
                        CONNECTS.incrementAndGet();
                        return new Conn(ch, sel, p.user());
                } catch (IOException e) {
                        close(ch, sel);
                        throw socketFailure(path.toString(), e);
                } catch (InterruptedException e) {
                        close(ch, sel);
                        throw interrupted();
                } catch (RuntimeException e) {
                        close(ch, sel);
                        throw e;
                }
        }

        private static void close(SocketChannel ch, Selector sel) {
                try {
                        if (sel != null)
                                sel.close();
                        if (ch != null)
                                ch.close();
                } catch (IOException e) {
                        /* nothing to do */
                }
        }

        /** The server must run as the segment's owner or as root: a token request never goes to a stranger. */
        private static void checkPeer(Conn c, UserPrincipal owner) {
                if (owner == null)
                        return;
                if (c.peer.equals(owner) || c.peer.equals(Ids.root()))
                        return;
                throw new WxShmException(WxShmException.Kind.NOT_TRUSTED,
                                         "the socket's server is neither the segment's owner nor root");
        }

        /**
         * Sends line (ending in '\n') and returns the reply line without its '\n'. owner null: any
         * server (the tests and the bench's get on a socket of their own).
         */
        static String request(Path path, UserPrincipal owner, String line, long deadline) {
                ConcurrentLinkedDeque<Conn> idle = IDLE.computeIfAbsent(path, k -> new ConcurrentLinkedDeque<>());
                Conn c = idle.pollFirst();
                boolean reused = c != null;
                byte[] out = line.getBytes(StandardCharsets.UTF_8);

                if (c == null)
                        c = connect(path, deadline);
                for (;;) {
                        try {
                                checkPeer(c, owner);
                                String reply = exchange(c, out, deadline, reused);
                                /* Bytes after the reply line: out of step, never reused. */
                                if (c.in.position() == 0 && idle.size() < IDLE_MAX)
                                        idle.offerFirst(c);
                                else
                                        c.close();
                                return reply;
                        } catch (Retry r) {
                                c.close();
                                c = connect(path, deadline);
                                reused = false;
                        } catch (RuntimeException e) {
                                c.close();
                                throw e;
                        }
                }
        }

        private static String exchange(Conn c, byte[] out, long deadline, boolean reused) throws Retry {
                ByteBuffer o = ByteBuffer.wrap(out);
                ByteBuffer in = c.in;

                in.clear();
                REQUESTS.incrementAndGet();
                try {
                        while (o.hasRemaining()) {
                                if (c.ch.write(o) == 0)
                                        await(c, SelectionKey.OP_WRITE, deadline);
                        }
                        for (;;) {
                                int n = c.ch.read(in);
                                if (n < 0) {
                                        if (reused && in.position() == 0)
                                                throw new Retry(null);
                                        throw new WxShmException(WxShmException.Kind.PROTOCOL,
                                                                 "the agent closed the connection before its reply ended");
                                }
                                if (n == 0) {
                                        await(c, SelectionKey.OP_READ, deadline);
                                        continue;
                                }
                                String line = lineOf(in);
                                if (line != null)
                                        return line;
                                if (!in.hasRemaining())
                                        throw new WxShmException(WxShmException.Kind.PROTOCOL,
                                                                 "a reply line over " + LINE_MAX + " bytes");
                        }
                } catch (IOException e) {
                        /* EPIPE, ECONNRESET: an idle connection the agent dropped. */
                        if (reused && in.position() == 0)
                                throw new Retry(e);
                        throw socketFailure("the agent's socket", e);
                }
        }

        /** The line before the first '\n' in buf, if any; buf keeps the bytes after it. */
        private static String lineOf(ByteBuffer buf) {
                int end = buf.position();
                byte[] a = buf.array();
                for (int i = 0; i < end; i++) {
                        if (a[i] != '\n')
                                continue;
                        String s;
                        try {
                                s = StandardCharsets.UTF_8.newDecoder()
                                        .onMalformedInput(CodingErrorAction.REPORT)
                                        .onUnmappableCharacter(CodingErrorAction.REPORT)
                                        .decode(ByteBuffer.wrap(a, 0, i)).toString();
                        } catch (CharacterCodingException e) {
                                throw new WxShmException(WxShmException.Kind.PROTOCOL, "a reply that is not UTF-8");
                        }
                        /* What follows the line stays counted in position: the caller drops such a connection. */
                        System.arraycopy(a, i + 1, a, 0, end - i - 1);
                        buf.position(end - i - 1);
                        return s;
                }
                return null;
        }

        /** Closes the idle connections (the tests: an agent restarted under a fixed path). */
        static void dropIdle() {
                for (ConcurrentLinkedDeque<Conn> q : IDLE.values()) {
                        Conn c;
                        while ((c = q.pollFirst()) != null)
                                c.close();
                }
        }
}
