// WxShm.java: the public API: open an item's segment, read its token with no system call, ask the agent to refresh it.
package wxshm;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A reader of one item (an app, or a ticket such as {@code "shop.jsapi"}) that wxtokend publishes.
 *
 * <pre>{@code
 * WxShm shop = WxShm.open("shop");            // once, at start; share it between threads
 * WxShm.Token t = shop.read();                // no system call
 * ... call WeChat with t.token() ...
 * if (errcode == 40001 || errcode == 40014 || errcode == 42001) {
 *         shop.refresh(t.generation(), 5000); // the generation THIS request used
 *         t = shop.read();                    // and retry the call once
 * }
 * }</pre>
 *
 * Every handle of the same directory and item in a process shares one mapping. All methods are
 * thread-safe. Failures are {@link WxShmException}s naming libwxshm's errno.
 */
public final class WxShm implements AutoCloseable {
        /** What the agent is doing for the item; the token stays readable in every state. */
        public enum State {
                STARTING, FRESH, REFRESHING, RETRYING, CONFIG_ERROR, QUOTA, STOPPED, UNKNOWN;

                private static final State[] KNOWN = { STARTING, FRESH, REFRESHING, RETRYING, CONFIG_ERROR, QUOTA, STOPPED };

                /** The segment's state word as a State; UNKNOWN for a value this binding does not know. */
                public static State of(long word) {
                        return word >= 0 && word < KNOWN.length ? KNOWN[(int) word] : UNKNOWN;
                }

                /** The name libwxshm's wxshm_state_name() gives: "fresh", "config_error", ... */
                public String wireName() {
                        return name().toLowerCase(java.util.Locale.ROOT);
                }
        }

        /**
         * One consistent token, with what the agent is doing for it. {@code toString()} leaves the
         * token out.
         */
        public record Token(String token, long generation, long expiresAtMs, long fetchedAtMs, State state) {
                /**
                 * Whether the token's expiry has passed (now, at this call). A stale token is still
                 * returned by read() (WeChat often takes it a little longer), but it normally means
                 * the agent is down or failing. Computed here rather than in read(): on hosts whose
                 * clock has no vDSO path (VMs on kvm-clock without a stable TSC) the JVM's clock is a
                 * system call, dearer than the whole read.
                 */
                public boolean stale() {
                        return System.currentTimeMillis() >= expiresAtMs;
                }

                @Override
                public String toString() {
                        return "Token[length=" + token.length() + ", generation=" + generation + ", expiresAtMs=" + expiresAtMs +
                               ", fetchedAtMs=" + fetchedAtMs + ", state=" + state + "]";
                }
        }

        /**
         * The agent as the segment shows it: {@code alive} while its last heartbeat is at most three
         * heartbeat intervals old. Single words, not consistent with each other nor with a token.
         */
        public record Status(long agentPid, long heartbeatMs, long heartbeatIntervalMs, boolean alive, State state,
                             long lastErrcode, long lastErrorAtMs) {
        }

        /**
         * The agent's answer to a refresh: the generation now published, the token when the agent
         * sends it (null from agents before "token":true), whether an upstream call was made, and
         * whether the agent checked that the token works and kept it. {@code toString()} leaves
         * the token out.
         */
        public record Refreshed(long generation, long expiresAtMs, boolean upstreamCall, boolean verified, String token) {
                @Override
                public String toString() {
                        return "Refreshed[generation=" + generation + ", expiresAtMs=" + expiresAtMs + ", upstreamCall=" +
                               upstreamCall + ", verified=" + verified + ", token=" + (token == null ? "absent" : "present") + "]";
                }
        }

        /**
         * Where the segments and the agent's socket are. {@link #fromEnvironment()} is what libwxshm
         * uses: {@code $WXSHM_DIR} if absolute and under 256 bytes, else /dev/shm/wxtokend;
         * {@code $WXTOKEND_SOCKET} if set, else /run/wxtokend/wxtokend.sock.
         */
        public record Options(Path dir, Path socket) {
                public static final Path DEFAULT_DIR = Path.of("/dev/shm/wxtokend");
                public static final Path DEFAULT_SOCKET = Path.of("/run/wxtokend/wxtokend.sock");

                public Options {
                        if (dir == null || socket == null)
                                throw new WxShmException(WxShmException.Kind.INVALID_ARGUMENT, "a null directory or socket");
                        dir = dir.toAbsolutePath().normalize();
                        socket = socket.toAbsolutePath();
                }

                public static Options fromEnvironment() {
                        String d = System.getenv("WXSHM_DIR"), s = System.getenv("WXTOKEND_SOCKET");
                        Path dir = d != null && d.startsWith("/") && d.getBytes(java.nio.charset.StandardCharsets.UTF_8).length < 256
                                ? Path.of(d) : DEFAULT_DIR;
                        return new Options(dir, s != null && !s.isEmpty() ? Path.of(s) : DEFAULT_SOCKET);
                }

                public Options withDir(Path d) {
                        return new Options(d, socket);
                }

                public Options withSocket(Path s) {
                        return new Options(dir, s);
                }
        }

        /** One per directory and item in the process: its mapping and its refreshes in flight. */
        private static final class Item {
                final String key;
                final Path dir;
                final String name;
                volatile Segment segment;
                int handles; /* guarded by ITEMS */
                /* Concurrent refreshes of one generation share one request (singleflight). */
                final ConcurrentHashMap<Long, CompletableFuture<Refreshed>> inflight = new ConcurrentHashMap<>();

                Item(String key, Path dir, String name, Segment segment) {
                        this.key = key;
                        this.dir = dir;
                        this.name = name;
                        this.segment = segment;
                }
        }

        private static final Map<String, Item> ITEMS = new ConcurrentHashMap<>();

        /** Generations travel as JSON numbers, exact as doubles only below 2^53. */
        public static final long GENERATION_LIMIT = 1L << 53;
        public static final long TIMEOUT_DEFAULT_MS = 5000, TIMEOUT_MAX_MS = 60000;
        /** A client waits this much past the timeout it sent: the agent's own "timeout" answer needs time to arrive. */
        static final long REPLY_SLACK_MS = 1000;

        private final Item item;
        private final Path socket;
        private volatile boolean closed;

        private WxShm(Item item, Path socket) {
                this.item = item;
                this.socket = socket;
        }

        /** Opens item with the directory and socket of the environment ({@link Options#fromEnvironment()}). */
        public static WxShm open(String item) {
                return open(item, Options.fromEnvironment());
        }

        /** Opens item in dir, with the socket of the environment. */
        public static WxShm open(Path dir, String item) {
                return open(item, Options.fromEnvironment().withDir(dir));
        }

        /**
         * Opens item: checks the name, then the trust rule, maps the segment and checks its
         * header. A segment the agent is still creating (an empty file, or magic 0) is retried for about 20 ms, then BUSY.
         * A second open of the same directory and item shares the first one's mapping.
         */
        public static WxShm open(String item, Options options) {
                if (!Ids.validName(item))
                        throw new WxShmException(WxShmException.Kind.INVALID_ARGUMENT,
                                                 "an item is [A-Za-z0-9_-]{1,64}, optionally '.' and a suffix of up to 40 (one more dot inside allowed)");
                String key = options.dir() + "\0" + item;
                synchronized (ITEMS) {
                        Item it = ITEMS.get(key);
                        if (it == null) {
                                it = new Item(key, options.dir(), item, Segment.open(options.dir(), item));
                                ITEMS.put(key, it);
                        } else if (it.segment.retired() != 0) {
                                /* A new handle names what is there now. */
                                it.segment = Segment.open(options.dir(), item);
                        }
                        it.handles++;
                        return new WxShm(it, options.socket());
                }
        }

        /** The item's name, as opened. */
        public String name() {
                return item.name;
        }

        private Segment segment() {
                if (closed)
                        throw new IllegalStateException("WxShm handle of " + item.name + " is closed");
                Segment s = item.segment;
                long r = s.retired();
                return r == 0 ? s : reopen(s, r);
        }

        /** Retired (1, or any value but 2): re-open the name, once; removed (2): never. */
        private Segment reopen(Segment old, long retired) {
                if (retired == 2)
                        throw new WxShmException(WxShmException.Kind.REMOVED, item.name + " was removed from the agent's configuration");
                Segment s;
                synchronized (ITEMS) {
                        s = item.segment;
                        if (s == old)
                                item.segment = s = Segment.open(item.dir, item.name);
                }
                long r = s.retired();
                if (r == 2)
                        throw new WxShmException(WxShmException.Kind.REMOVED, item.name + " was removed from the agent's configuration");
                if (r != 0)
                        throw new WxShmException(WxShmException.Kind.RETIRED, item.name + " is retired, and so is its new segment");
                return s;
        }

        /**
         * The current token, copied consistently from the segment with no system call and, while
         * the token is unchanged, no allocation. A segment the agent retired is re-opened once.
         * The latch is retried a few times (1024 attempts each) before BUSY.
         */
        public Token read() {
                return read(false);
        }

        /** read(), or with copy the latch's copy even when the last token read is current (the tests). */
        Token read(boolean copy) {
                Segment s = segment();
                for (int round = 0;; round++) {
                        try {
                                return copy ? s.copy() : s.read();
                        } catch (WxShmException e) {
                                if (e.kind() != WxShmException.Kind.BUSY || round >= 3)
                                        throw e;
                        }
                }
        }

        /** The agent's heartbeat, liveness and last upstream error, from the segment's status words. */
        public Status status() {
                Segment s = segment();
                long pid = s.word(Segment.OFF_PID), hb = s.word(Segment.OFF_HEARTBEAT), interval = s.heartbeatIntervalMs;
                boolean alive = false;
                if (pid > 0 && hb > 0 && interval > 0) {
                        /* Alive while now - heartbeat <= 3 intervals; a deadline past the end of time is alive. */
                        long dead;
                        try {
                                dead = Math.addExact(Math.addExact(Math.multiplyExact(interval, 3), hb), 1);
                        } catch (ArithmeticException e) {
                                dead = Long.MAX_VALUE;
                        }
                        alive = System.currentTimeMillis() < dead;
                }
                return new Status(pid, hb, interval, alive, State.of(s.word(Segment.OFF_STATE)), s.word(Segment.OFF_ERRCODE),
                                  s.word(Segment.OFF_ERROR_AT));
        }

        /**
         * Tells the agent that WeChat refused the token of this generation and waits until a newer
         * one is published: returns the generation published then (greater, or equal when the
         * agent checked that the token still works). Never fetch a token yourself. Concurrent
         * calls for the same item and generation in this process share one request.
         * timeoutMs &lt;= 0 means 5000, more than 60000 is cut to 60000.
         */
        public long refresh(long generation, long timeoutMs) {
                return refreshDetailed(generation, timeoutMs).generation();
        }

        /** {@link #refresh} with the rest of the agent's answer, the new token among it. */
        public Refreshed refreshDetailed(long generation, long timeoutMs) {
                if (generation < 0 || generation >= GENERATION_LIMIT)
                        throw new WxShmException(WxShmException.Kind.INVALID_ARGUMENT, "a generation must be below 2^53");
                long timeout = timeoutMs <= 0 ? TIMEOUT_DEFAULT_MS : Math.min(timeoutMs, TIMEOUT_MAX_MS);
                Segment s = segment();
                CompletableFuture<Refreshed> mine = new CompletableFuture<>();
                CompletableFuture<Refreshed> theirs = item.inflight.putIfAbsent(generation, mine);

                if (theirs != null)
                        return follow(theirs, timeout);
                try {
                        Refreshed r = Refresh.ask(socket, s.owner, item.name, generation, timeout);
                        mine.complete(r);
                        return r;
                } catch (RuntimeException | Error e) {
                        mine.completeExceptionally(e);
                        throw e;
                } finally {
                        item.inflight.remove(generation, mine);
                }
        }

        /** Threads waiting on the request in flight for generation, -1 if none (the tests wait for them). */
        int waiters(long generation) {
                CompletableFuture<Refreshed> f = item.inflight.get(generation);
                return f == null ? -1 : f.getNumberOfDependents();
        }

        /** Waits for another thread's request of the same generation. */
        private static Refreshed follow(CompletableFuture<Refreshed> f, long timeout) {
                try {
                        return f.get(timeout + REPLY_SLACK_MS, TimeUnit.MILLISECONDS);
                } catch (TimeoutException e) {
                        throw new WxShmException(WxShmException.Kind.TIMEOUT, "no reply from the agent in time");
                } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw WxShmException.system("EINTR", 4, "interrupted while waiting for the agent", e);
                } catch (ExecutionException e) {
                        if (e.getCause() instanceof WxShmException)
                                throw ((WxShmException) e.getCause()).again();
                        throw WxShmException.system("the request failed", e.getCause());
                }
        }

        /**
         * Releases this handle. The mapping is shared with the item's other handles and dropped
         * from the process's table with the last one; the JVM unmaps a MappedByteBuffer only when
         * the garbage collector frees it.
         */
        @Override
        public void close() {
                synchronized (ITEMS) {
                        if (closed)
                                return;
                        closed = true;
                        if (--item.handles == 0)
                                ITEMS.remove(item.key, item);
                }
        }
}
