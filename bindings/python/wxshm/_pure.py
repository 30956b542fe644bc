"""The pure Python reader: the segment mapped with mmap and read with the latch in Python (x86-64 only)."""

import errno
import mmap
import os
import stat
import struct
import time

from . import _layout as L
from ._base import _STATES, READ_AGAIN_PAUSE_S, READ_AGAIN_TRIES, Handle, Token, _again, _new, _time_ns
from ._errors import Error, error_for


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
        if not err and st.st_size == 0:
            err = errno.EAGAIN  # the agent's openat made it, it has not sized it yet (retried by open)
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
