"""Opening a segment and reading its token: pure Python (x86-64 only) or libwxshm through ctypes (everywhere)."""

import ctypes
import ctypes.util
import enum
import errno
import mmap
import os
import platform
import stat
import struct
import threading
import time
import typing
import weakref

from . import _client
from . import _layout as L
from ._errors import Error, error_for

# Pure Python has no fences: its plain loads keep their program order only on a TSO CPU.
X86_64 = platform.machine() in ("x86_64", "AMD64")
READERS = ("auto", "pure", "ctypes")

# Bounded retries (the contract): a segment still being made (magic 0) is re-opened this many
# times, 1 ms apart; a writer that outran a whole read loop gets this many more loops.
OPEN_AGAIN_TRIES = 20
OPEN_AGAIN_PAUSE_S = 0.001
READ_AGAIN_TRIES = 3
READ_AGAIN_PAUSE_S = 0.001


class State(enum.IntEnum):
    """What the agent is doing for the item (enum wxshm_state); the token stays readable in every state."""
    STARTING = 0
    FRESH = 1
    REFRESHING = 2
    RETRYING = 3
    CONFIG_ERROR = 4
    QUOTA = 5
    STOPPED = 6

    @property
    def label(self):
        """The name wxshm_state_name() and wxtokenctl print: "fresh", "config_error", ..."""
        return self.name.lower()


# A state value a newer agent may add stays a plain int.
_STATES = {int(s): s for s in State}


class Token(typing.NamedTuple):
    """One consistent read of a segment. stale: expires_at_ms has passed (the token is still returned)."""
    token: str
    generation: int
    expires_at_ms: int
    fetched_at_ms: int
    state: State
    stale: bool

    def __repr__(self):
        # A token is a credential: a logged repr shows its length, not its bytes.
        return ("Token(token=<%d chars>, generation=%d, expires_at_ms=%d, fetched_at_ms=%d, state=%r, stale=%r)"
                % (len(self.token), self.generation, self.expires_at_ms, self.fetched_at_ms, self.state,
                   self.stale))


_new = tuple.__new__
_time_ns = time.time_ns


# Every open handle, so that a forked child gets fresh locks (a parent's thread may hold one).
_handles = weakref.WeakSet()


def _after_fork_in_child():
    for h in list(_handles):
        h._lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


class Handle:
    """An open segment: read() as often as you like; refresh() after WeChat refused a generation."""

    reader = None

    def __init__(self, item, directory, socket_path, owner):
        self.item = item
        self.dir = directory
        self.socket_path = socket_path
        self.owner = owner
        self._lock = threading.Lock()
        _handles.add(self)

    def refresh(self, generation, timeout_ms=L.TIMEOUT_DEFAULT_MS):
        """Ask the agent for a token newer than generation; the generation published now.

        Concurrent calls of this process for the same item and generation share one request.
        timeout_ms <= 0 means 5000, more than 60000 is cut to 60000. Raises RateLimited,
        Timeout, UpstreamFailed, TooManyWaiters, AccessDenied, NotFound, AgentStopping,
        NotTrusted, ProtocolError or InvalidArgument.
        """
        return _client.refresh(self.socket_path, self.item, self.owner, generation, timeout_ms)[0]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        return "<wxshm.Handle %r in %s, %s reader>" % (self.item, self.dir, self.reader)


# --- pure Python --------------------------------------------------------------------------

class _Closed:
    """Stands in for a closed handle's mapping: any read says so."""

    def __getitem__(self, i):
        raise error_for(errno.EINVAL, None, "the handle is closed")


_CLOSED = _Closed()


def _other_layout(fd, size):
    """A file of another size: a newer layout (same first 64 bytes) or not a segment at all."""
    if size < L.OFF_SEQ:
        return errno.EBADMSG
    try:
        head = mmap.mmap(fd, L.OFF_SEQ, mmap.MAP_SHARED, mmap.PROT_READ)
    except OSError:
        return errno.EBADMSG
    with head:
        magic, version = struct.unpack_from("QI", head, 0)
    return errno.EPROTONOSUPPORT if magic == L.MAGIC and version != L.VERSION else errno.EBADMSG


def _validate(m):
    """0 or the errno of a header that is not version 1's; magic 0 (being made) is EAGAIN."""
    q = memoryview(m).cast("Q")
    try:
        magic = q[0]  # one 8-byte load: the agent writes it last, in one store
    finally:
        q.release()
    if magic == 0:
        return errno.EAGAIN
    if magic != L.MAGIC:
        return errno.EBADMSG
    version, header_size, total_size, slot_size, capacity = struct.unpack_from("IIQII", m, L.OFF_VERSION)
    if version != L.VERSION:
        return errno.EPROTONOSUPPORT
    if header_size != L.HEADER_SIZE or slot_size != L.SLOT_SIZE or capacity != L.TOKEN_CAPACITY:
        return errno.EBADMSG
    if not L.HEADER_SIZE + 2 * L.SLOT_SIZE <= total_size <= L.TOTAL_SIZE:
        return errno.EBADMSG
    return 0


def _open_pure_once(directory, item):
    """doc/segment.md's "Opening: the trust rule", step by step; (mapping, owner uid)."""
    try:
        dfd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise error_for(e.errno, item) from None
    try:
        dir_st = os.fstat(dfd)
        try:
            fd = os.open(item, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd)
        except OSError as e:
            # A symbolic link in the agent's directory was not put there by the agent.
            raise error_for(errno.EPERM if e.errno == errno.ELOOP else e.errno, item) from None
    finally:
        os.close(dfd)
    try:
        st = os.fstat(fd)
        err = L.trusted(dir_st, st, os.geteuid())
        if not err and not stat.S_ISREG(st.st_mode):
            err = errno.EBADMSG
        if not err and st.st_size != L.TOTAL_SIZE:
            err = _other_layout(fd, st.st_size)
        if err:
            raise error_for(err, item)
        # Exactly the file's size: no read can reach past its end (SIGBUS).
        m = mmap.mmap(fd, L.TOTAL_SIZE, mmap.MAP_SHARED, mmap.PROT_READ)
    except OSError as e:
        if isinstance(e, Error):
            raise
        raise error_for(e.errno, item) from None
    finally:
        os.close(fd)
    err = _validate(m)
    if err:
        m.close()
        raise error_for(err, item)
    return m, st.st_uid


def _again(open_once, directory, item):
    """open_once, retried while the agent is still making the segment (EAGAIN), then Busy."""
    for attempt in range(OPEN_AGAIN_TRIES):
        try:
            return open_once(directory, item)
        except Error as e:
            if e.errno != errno.EAGAIN or attempt == OPEN_AGAIN_TRIES - 1:
                if e.errno == errno.EAGAIN:
                    raise error_for(errno.EAGAIN, item, "the agent is still making the segment") from None
                raise
        time.sleep(OPEN_AGAIN_PAUSE_S)


class PureHandle(Handle):
    """The segment mapped by Python and read with the latch in Python: correct on x86-64 only."""

    reader = "pure"

    def __init__(self, item, directory, socket_path):
        m, owner = _again(_open_pure_once, directory, item)
        super().__init__(item, directory, socket_path, owner)
        self._attach(m)

    def _attach(self, m):
        self._m = m
        self._B = memoryview(m)
        # Indexing a 'Q' or 'q' view is one aligned 8-byte load: a word is never torn.
        self._Q = self._B.cast("Q")
        self._q = self._B.cast("q")

    def read(self):
        """The token and what goes with it (Token); no system call. Raises Error subclasses."""
        # The latch (doc/segment.md) with word indexes: seq at word 8, slot s at 24 + 264 * s.
        Q = self._Q
        if not Q[5]:
            s = Q[8]
            w = 24 + 264 * (s & 1)
            n = Q[w]
            if n <= 2048:
                b = w * 8 + 64
                tok = str(self._B[b:b + n], "latin-1")
                q = self._q
                g = Q[w + 1]
                e = q[w + 2]
                f = q[w + 3]
                if Q[8] == s and g:
                    st = q[18]
                    return _new(Token, (tok, g, e, f, _STATES.get(st, st), _time_ns() // 1000000 >= e))
        return self._read_careful()

    def _read_careful(self):
        """read() for everything but the common case: retired, busy, no data, corrupt, closed."""
        reopened = False
        for again in range(READ_AGAIN_TRIES + 1):
            if again:
                time.sleep(READ_AGAIN_PAUSE_S)
            for _ in range(L.READ_ATTEMPTS):
                Q, q, B = self._Q, self._q, self._B
                retired = Q[5]
                if retired:
                    if retired == L.RETIRED_REMOVED:
                        raise error_for(errno.ENXIO, self.item)
                    if reopened:
                        raise error_for(errno.EIDRM, self.item, "retired again after re-opening it")
                    self._reopen(Q)
                    reopened = True
                    continue
                s = Q[8]
                w = 24 + 264 * (s & 1)
                n = Q[w]
                tok = None
                if n <= L.TOKEN_CAPACITY:
                    b = w * 8 + 64
                    tok = str(B[b:b + n], "latin-1")
                g = Q[w + 1]
                e = q[w + 2]
                f = q[w + 3]
                if Q[8] != s:
                    continue
                if tok is None:
                    raise error_for(errno.EBADMSG, self.item, "the published slot claims %d bytes" % n)
                if not g:
                    raise error_for(errno.ENODATA, self.item)
                st = q[18]
                return _new(Token, (tok, g, e, f, _STATES.get(st, st), _time_ns() // 1000000 >= e))
        raise error_for(errno.EAGAIN, self.item, "the agent changed the token during every read")

    def _reopen(self, seen):
        """The segment was retired: open the name again (once); the re-open's error if it fails."""
        with self._lock:
            if self._Q is not seen:
                return  # another thread did it, or the handle was closed
            m, owner = _again(_open_pure_once, self.dir, self.item)
            # The old mapping is dropped, not closed: another thread may be copying from it.
            self.owner = owner
            self._attach(m)

    def close(self):
        with self._lock:
            views = [v for v in (getattr(self, n, None) for n in ("_Q", "_q", "_B")) if isinstance(v, memoryview)]
            m = getattr(self, "_m", None)
            self._Q = self._q = self._B = _CLOSED
            self._m = None
        for v in views:
            v.release()
        if m is not None:
            try:
                m.close()
            except BufferError:
                pass  # a read in another thread still holds it; unmapped when it lets go


# --- libwxshm through ctypes -----------------------------------------------------------------

class _Info(ctypes.Structure):
    """wxshm_info (wxshm.h), for its size; read() unpacks it with _INFO."""
    _fields_ = [("size", ctypes.c_size_t), ("generation", ctypes.c_uint64), ("expires_at_ms", ctypes.c_int64),
                ("fetched_at_ms", ctypes.c_int64), ("heartbeat_ms", ctypes.c_int64),
                ("last_errcode", ctypes.c_int64), ("last_error_at_ms", ctypes.c_int64),
                ("state", ctypes.c_int32), ("agent_pid", ctypes.c_int32), ("agent_alive", ctypes.c_int32),
                ("token_length", ctypes.c_int32)]


# generation, expires_at_ms, fetched_at_ms, state, token_length
_INFO = struct.Struct("8xQqq24xi8xi")
assert _INFO.size == ctypes.sizeof(_Info)
_BUF_SIZE = L.TOKEN_CAPACITY + 1
_ESTALE = -errno.ESTALE


class _Lib:
    def __init__(self, path):
        lib = ctypes.CDLL(path, use_errno=False)
        self.path = path
        self.open = lib.wxshm_open
        self.open.argtypes = (ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p)
        self.open.restype = ctypes.c_int
        self.close = lib.wxshm_close
        self.close.argtypes = (ctypes.c_void_p,)
        self.close.restype = None
        # wxshm_read makes no system call and never waits: calling it with the GIL held
        # (PyDLL) saves releasing and taking the GIL around every read.
        self.read = ctypes.PyDLL(path).wxshm_read
        self.read.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)
        self.read.restype = ctypes.c_int


_lib = None
_lib_lock = threading.Lock()
# libwxshm takes its directory only from $WXSHM_DIR: a dir= that differs is set there around the open.
_env_lock = threading.Lock()


def library():
    """libwxshm, loaded once: $WXSHM_LIBRARY (a path), else libwxshm.so.1 from the loader's path."""
    global _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        named = L._env("WXSHM_LIBRARY")
        tries = [named] if named else ["libwxshm.so.1"]
        if not named:
            found = ctypes.util.find_library("wxshm")
            if found:
                tries.append(found)
        why = None
        for path in tries:
            try:
                _lib = _Lib(path)
                return _lib
            except (OSError, AttributeError) as e:
                why = e
        raise error_for(errno.ELIBACC, None, "cannot load libwxshm (install libwxshm1, or set WXSHM_LIBRARY): %s"
                        % why)


def _open_native_once(directory, item):
    lib = library()
    h = ctypes.c_void_p()
    name = item.encode("ascii")
    if directory == L.segment_dir():
        r = lib.open(ctypes.byref(h), name)
    else:
        with _env_lock:
            old = os.environ.get("WXSHM_DIR")
            os.environ["WXSHM_DIR"] = directory
            try:
                r = lib.open(ctypes.byref(h), name)
            finally:
                if old is None:
                    del os.environ["WXSHM_DIR"]
                else:
                    os.environ["WXSHM_DIR"] = old
    if r < 0:
        raise error_for(-r, item)
    try:
        # The trust rule made the file's owner the directory's: the agent that may answer refreshes.
        owner = os.stat(directory).st_uid
    except OSError as e:
        lib.close(h.value)
        raise error_for(e.errno, item) from None
    return h.value, owner


class NativeHandle(Handle):
    """The segment read by libwxshm's wxshm_read() (acquire fence and all): correct on every CPU."""

    reader = "ctypes"

    def __init__(self, item, directory, socket_path):
        h, owner = _again(_open_native_once, directory, item)
        super().__init__(item, directory, socket_path, owner)
        self._lib = library()
        self._read_fn = self._lib.read
        self._h = h
        # One buffer per handle, reused: the call writes the token and wxshm_info in place.
        # The arguments are ctypes objects made once: converting ints on every call costs more.
        self._buf = ctypes.create_string_buffer(_BUF_SIZE)
        self._text = memoryview(self._buf).cast("B")
        self._info = ctypes.create_string_buffer(ctypes.sizeof(_Info))
        struct.pack_into("N", self._info, 0, ctypes.sizeof(_Info))
        self._arg_h = ctypes.c_void_p(h)
        self._arg_buf = ctypes.c_void_p(ctypes.addressof(self._buf))
        self._arg_size = ctypes.c_size_t(_BUF_SIZE)
        self._arg_info = ctypes.c_void_p(ctypes.addressof(self._info))

    def _attempt(self):
        """A Token, or libwxshm's negative errno."""
        with self._lock:
            r = self._read_fn(self._arg_h, self._arg_buf, self._arg_size, self._arg_info)
            if r >= 0 or r == _ESTALE:
                g, e, f, st, n = _INFO.unpack_from(self._info)
                return _new(Token, (str(self._text[:n], "latin-1"), g, e, f, _STATES.get(st, st), r < 0))
            return r

    def read(self):
        """The token and what goes with it (Token); no system call. Raises Error subclasses."""
        with self._lock:
            # The buffers are this handle's: the lock keeps another thread's call from
            # overwriting them between this call and the copy out.
            r = self._read_fn(self._arg_h, self._arg_buf, self._arg_size, self._arg_info)
            if r >= 0 or r == _ESTALE:
                g, e, f, st, n = _INFO.unpack_from(self._info)
                return _new(Token, (str(self._text[:n], "latin-1"), g, e, f, _STATES.get(st, st), r < 0))
        return self._read_failed(r)

    def _read_failed(self, r):
        reopened = False
        busy = 0
        while True:
            err = -r
            if err == errno.EIDRM and not reopened:
                self._reopen()
                reopened = True
            elif err == errno.EAGAIN and busy < READ_AGAIN_TRIES:
                busy += 1
                time.sleep(READ_AGAIN_PAUSE_S)
            elif err == errno.EINVAL and not self._h:
                raise error_for(errno.EINVAL, self.item, "the handle is closed")
            elif err == errno.EIDRM:
                raise error_for(errno.EIDRM, self.item, "retired again after re-opening it")
            elif err == errno.EAGAIN:
                raise error_for(errno.EAGAIN, self.item, "the agent changed the token during every read")
            else:
                raise error_for(err, self.item)
            r = self._attempt()
            if not isinstance(r, int):
                return r

    def _reopen(self):
        with self._lock:
            if not self._h:
                return
            h, owner = _again(_open_native_once, self.dir, self.item)
            old, self._h, self.owner = self._h, h, owner
            self._arg_h = ctypes.c_void_p(h)
            self._lib.close(old)

    def close(self):
        with self._lock:
            h, self._h = getattr(self, "_h", None), None
            self._arg_h = ctypes.c_void_p()  # NULL: wxshm_read says -EINVAL, read() "closed"
        if h:
            self._lib.close(h)


def choose(reader):
    """The reader class for reader ("auto", "pure", "ctypes"; None: $WXSHM_PY_READER or "auto")."""
    if reader is None:
        reader = L._env("WXSHM_PY_READER") or "auto"
    if reader not in READERS:
        raise error_for(errno.EINVAL, None, "reader must be one of %s, not %r" % (", ".join(READERS), reader))
    if reader == "pure" and not X86_64:
        raise error_for(errno.EOPNOTSUPP, None, "the pure reader is correct only on x86-64 (this is %s): use ctypes"
                        % platform.machine())
    # On x86-64 the pure reader is faster (README, bench.sh) and passes the same conformance kit.
    if reader == "auto":
        reader = "pure" if X86_64 else "ctypes"
    return PureHandle if reader == "pure" else NativeHandle


def open(name, dir=None, *, reader=None, socket_path=None):  # noqa: A001 (wxshm.open, like os.open)
    """Open the segment of an item ("shop", "shop.jsapi"); a Handle, also a context manager.

    dir: the segment directory (default $WXSHM_DIR, else /dev/shm/wxtokend); socket_path:
    the agent's socket (default $WXTOKEND_SOCKET, else /run/wxtokend/wxtokend.sock);
    reader: "pure", "ctypes" or "auto" (default $WXSHM_PY_READER, else auto: pure on x86-64).
    Raises InvalidArgument, NotFound, AccessDenied, NotTrusted, BadSegment,
    VersionNotSupported, Busy (still being made), Unsupported, or Error.
    """
    if not L.name_valid(name):
        raise error_for(errno.EINVAL, name if isinstance(name, str) else None)
    if dir is None:
        dir = L.segment_dir()
    elif not L.dir_valid(dir):
        raise error_for(errno.EINVAL, name, "dir must be an absolute path shorter than 256 bytes")
    cls = choose(reader)
    return cls(name, dir, socket_path or L.socket_path())
