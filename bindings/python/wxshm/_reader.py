"""Choosing a reader and opening a segment: wxshm.open()."""

import errno
import platform

from . import _layout as L
from ._base import READERS, X86_64
from ._errors import error_for
from ._native import NativeHandle
from ._pure import PureHandle


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
