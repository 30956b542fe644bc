// WxShmException.java: every failure of the binding, with the errno libwxshm would return for it.
package wxshm;

/**
 * A failure to open, read or refresh a token. {@link #kind()} says what happened in Java terms;
 * {@link #errno()} and {@link #errnoName()} are the number and name libwxshm's C API returns for
 * the same case (negated there), so logs and alerts read the same in every language.
 *
 * <p>Unchecked on purpose: a reader's failures are deployment faults (no agent, missing group,
 * an app not configured) that the caller of {@code read()} cannot repair where it stands, and token
 * suppliers of the WeChat SDKs are functional interfaces that cannot throw checked exceptions.
 * Callers that can act on one (a refresh that was rate limited) catch it and switch on the kind.
 *
 * <p>Never carries a token or a reply line in its message.
 */
public class WxShmException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        /** What went wrong; each with libwxshm's errno (Linux numbering). */
        public enum Kind {
                /** Bad item name, or a generation at or over 2^53. */
                INVALID_ARGUMENT("EINVAL", 22),
                /** No segment of that name (the agent does not know it yet), no agent socket, or the agent does not know the app. */
                NOT_FOUND("ENOENT", 2),
                /** The app was removed from the agent's configuration and its segment unlinked. */
                REMOVED("ENXIO", 6),
                /** The segment was retired and re-opening the name found it retired again. */
                RETIRED("EIDRM", 43),
                /** Not allowed to read the segment (join the app's group) or to refresh the app. */
                ACCESS_DENIED("EACCES", 13),
                /** Not made by the agent: untrusted directory or owner, a symbolic link, or a socket server that is not the segment's owner nor root. */
                NOT_TRUSTED("EPERM", 1),
                /** The object is not a wxshm segment, not a regular file, of the wrong size (0 bytes is BUSY), or corrupt. */
                BAD_SEGMENT("EBADMSG", 74),
                /** A segment of a newer layout version: upgrade the binding. */
                VERSION("EPROTONOSUPPORT", 93),
                /** The segment exists but no token was published yet. */
                NO_DATA("ENODATA", 61),
                /** The writer changed the token during every attempt, or is still creating the segment (an empty file, or magic 0). */
                BUSY("EAGAIN", 11),
                /** Forced refreshes are spaced: read again after {@link #retryAfterMs()}. */
                RATE_LIMITED("EAGAIN", 11),
                /** No new generation within the timeout. */
                TIMEOUT("ETIMEDOUT", 110),
                /** The agent's upstream call failed; the old token stays published. */
                UPSTREAM("EIO", 5),
                /** Too many callers are already waiting for this app. */
                TOO_MANY_WAITERS("EBUSY", 16),
                /** The agent is shutting down, or nothing listens on its socket. */
                AGENT_STOPPING("ECONNREFUSED", 111),
                /** The agent's reply was not understood. */
                PROTOCOL("EPROTO", 71),
                /** Any other operating system failure (out of descriptors, memory, ...); errno 0 when Java does not say which. */
                SYSTEM("", 0);

                private final String errnoName;
                private final int errno;

                Kind(String errnoName, int errno) {
                        this.errnoName = errnoName;
                        this.errno = errno;
                }

                /** The errno name, such as "ENOENT"; "" for {@link #SYSTEM}. */
                public String errnoName() {
                        return errnoName;
                }

                /** The errno number (Linux); 0 for {@link #SYSTEM}. */
                public int errno() {
                        return errno;
                }
        }

        private final Kind kind;
        private final String errnoName;
        private final int errno;
        private final String detail;
        private final long retryAfterMs;

        WxShmException(Kind kind, String message) {
                this(kind, kind.errnoName, kind.errno, message, -1, null);
        }

        WxShmException(Kind kind, String message, Throwable cause) {
                this(kind, kind.errnoName, kind.errno, message, -1, cause);
        }

        WxShmException(Kind kind, String message, long retryAfterMs) {
                this(kind, kind.errnoName, kind.errno, message, retryAfterMs, null);
        }

        private WxShmException(Kind kind, String errnoName, int errno, String message, long retryAfterMs, Throwable cause) {
                super(errnoName.isEmpty() ? message : errnoName + ": " + message, cause);
                this.kind = kind;
                this.errnoName = errnoName;
                this.errno = errno;
                this.detail = message;
                this.retryAfterMs = retryAfterMs;
        }

        /** A {@link Kind#SYSTEM} failure whose errno is known (EINTR, ENOTDIR, ECONNRESET, ...). */
        static WxShmException system(String errnoName, int errno, String message, Throwable cause) {
                return new WxShmException(Kind.SYSTEM, errnoName, errno, message, -1, cause);
        }

        /** A {@link Kind#SYSTEM} failure whose errno Java does not tell. */
        static WxShmException system(String message, Throwable cause) {
                return new WxShmException(Kind.SYSTEM, "", 0, message, -1, cause);
        }

        /** The same failure, thrown again in another thread (a coalesced refresh): this thread's stack, the first as cause. */
        WxShmException again() {
                return new WxShmException(kind, errnoName, errno, detail, retryAfterMs, this);
        }

        /** What went wrong. */
        public Kind kind() {
                return kind;
        }

        /** libwxshm's errno for this failure (positive; the C API returns it negated); 0 if Java did not tell. */
        public int errno() {
                return errno;
        }

        /** The errno's name, such as "ETIMEDOUT"; "" if Java did not tell. */
        public String errnoName() {
                return errnoName;
        }

        /** For {@link Kind#RATE_LIMITED}: milliseconds until the agent takes a forced refresh again; -1 if not said. */
        public long retryAfterMs() {
                return retryAfterMs;
        }
}
