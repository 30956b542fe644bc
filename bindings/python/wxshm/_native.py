"""The ctypes reader: libwxshm's wxshm_open and wxshm_read (its acquire fence and all), correct on every CPU."""

import ctypes
import ctypes.util
import errno
import os
import struct
import threading
import time

from . import _layout as L
from ._base import _STATES, READ_AGAIN_PAUSE_S, READ_AGAIN_TRIES, Handle, Token, _again, _new
from ._errors import error_for

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
        self._last = None       # the last Token read (read() hands it out again while nothing changed)

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
                # A Token is immutable: while generation, state and staleness are the last read's,
                # that Token is the answer (no str and no tuple made: a third of a read).
                last = self._last
                if last is not None and last[1] == g and last[5] == (r < 0) and last[4] == st:
                    return last
                self._last = last = _new(Token, (str(self._text[:n], "latin-1"), g, e, f, _STATES.get(st, st), r < 0))
                return last
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
