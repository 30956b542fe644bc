"""wxshm's exceptions: one class per meaning of libwxshm's negative errno values."""

import errno as _errno
import os as _os

__all__ = [
    "Error", "InvalidArgument", "NotFound", "Removed", "Retired", "AccessDenied", "NotTrusted",
    "BadSegment", "VersionNotSupported", "NoData", "Busy", "RateLimited", "Timeout",
    "UpstreamFailed", "TooManyWaiters", "AgentStopping", "ProtocolError", "Unsupported",
    "error_for",
]


class Error(OSError):
    """Every wxshm failure: .errno is the errno libwxshm returns (negated), .item the name."""

    default_errno = 0

    def __init__(self, err=None, message=None, item=None):
        if err is None:
            err = self.default_errno
        if message is None:
            message = _os.strerror(err)
        super().__init__(err, message)
        self.item = item

    def __str__(self):
        where = "%s: " % self.item if self.item else ""
        return "%s%s (%s)" % (where, self.strerror, _errno.errorcode.get(self.errno, self.errno))

    def __reduce__(self):
        return (type(self), (self.errno, self.strerror, self.item))


# The builtin OSError subclass is added where Python itself maps the errno to it and the
# meaning matches, so "except FileNotFoundError" or "except TimeoutError" keeps working.

class InvalidArgument(Error, ValueError):
    """EINVAL: not an item name, a generation >= 2^53, or a bad option."""
    default_errno = _errno.EINVAL


class NotFound(Error, FileNotFoundError):
    """ENOENT: no segment of that name yet, no segment directory, or no agent socket."""
    default_errno = _errno.ENOENT


class Removed(Error):
    """ENXIO: the app was removed from the agent's configuration."""
    default_errno = _errno.ENXIO


class Retired(Error):
    """EIDRM: the segment was retired and re-opening the name gave a retired one again."""
    default_errno = _errno.EIDRM


class AccessDenied(Error, PermissionError):
    """EACCES: not allowed to read the segment or to ask for this app (the app's group)."""
    default_errno = _errno.EACCES


class NotTrusted(Error, PermissionError):
    """EPERM: the segment or the socket's server is not the agent's."""
    default_errno = _errno.EPERM


class BadSegment(Error):
    """EBADMSG: not a wxshm segment, not a regular file, wrong size (0 bytes is Busy), or corrupt."""
    default_errno = _errno.EBADMSG


class VersionNotSupported(Error):
    """EPROTONOSUPPORT: a segment of a newer layout version: upgrade the reader."""
    default_errno = _errno.EPROTONOSUPPORT


class NoData(Error):
    """ENODATA: the segment exists but no token was published yet."""
    default_errno = _errno.ENODATA


class Busy(Error):
    """EAGAIN: the writer kept changing the token, or the segment is still being made (empty, or magic 0)."""
    default_errno = _errno.EAGAIN


class RateLimited(Error):
    """EAGAIN from refresh: forced refreshes are spaced; read again after retry_after_ms."""
    default_errno = _errno.EAGAIN

    def __init__(self, err=None, message=None, item=None, retry_after_ms=None):
        super().__init__(err, message, item)
        self.retry_after_ms = retry_after_ms

    def __reduce__(self):
        return (type(self), (self.errno, self.strerror, self.item, self.retry_after_ms))


class Timeout(Error, TimeoutError):
    """ETIMEDOUT: no new generation within the timeout."""
    default_errno = _errno.ETIMEDOUT


class UpstreamFailed(Error):
    """EIO: the agent's call to WeChat failed; the old token stays published."""
    default_errno = _errno.EIO


class TooManyWaiters(Error):
    """EBUSY: too many callers already wait for this app."""
    default_errno = _errno.EBUSY


class AgentStopping(Error, ConnectionRefusedError):
    """ECONNREFUSED: the agent is not running or is shutting down."""
    default_errno = _errno.ECONNREFUSED


class ProtocolError(Error):
    """EPROTO: the agent's reply was not understood."""
    default_errno = _errno.EPROTO


class Unsupported(Error):
    """EOPNOTSUPP or ELIBACC: the asked-for reader cannot run here (no libwxshm, not x86-64)."""
    default_errno = _errno.EOPNOTSUPP


_BY_ERRNO = {
    _errno.EINVAL: InvalidArgument,
    _errno.ENOENT: NotFound,
    _errno.ENXIO: Removed,
    _errno.EIDRM: Retired,
    _errno.EACCES: AccessDenied,
    _errno.EPERM: NotTrusted,
    _errno.EBADMSG: BadSegment,
    _errno.EPROTONOSUPPORT: VersionNotSupported,
    _errno.ENODATA: NoData,
    _errno.EAGAIN: Busy,
    _errno.ETIMEDOUT: Timeout,
    _errno.EIO: UpstreamFailed,
    _errno.EBUSY: TooManyWaiters,
    _errno.ECONNREFUSED: AgentStopping,
    _errno.EPROTO: ProtocolError,
    _errno.EOPNOTSUPP: Unsupported,
    _errno.ELIBACC: Unsupported,
}

_MESSAGES = {
    _errno.EINVAL: "invalid argument (an item is [A-Za-z0-9_-]{1,64} with an optional .suffix of up to 40)",
    _errno.ENOENT: "no such segment (the agent does not know it yet, or no agent ran)",
    _errno.ENXIO: "the app was removed from the agent's configuration",
    _errno.EIDRM: "the segment was retired",
    _errno.EACCES: "not allowed (ask to be in the app's group)",
    _errno.EPERM: "not made by the agent, so not trusted",
    _errno.EBADMSG: "not a wxshm segment, or a corrupt one",
    _errno.EPROTONOSUPPORT: "a newer segment layout: upgrade python3-wxshm",
    _errno.ENODATA: "no token published yet",
    _errno.EAGAIN: "busy: try again",
    _errno.ETIMEDOUT: "no new token within the timeout",
    _errno.EIO: "the agent's call to WeChat failed; the old token stays published",
    _errno.EBUSY: "too many callers already wait for this app",
    _errno.ECONNREFUSED: "the agent is not running or is shutting down",
    _errno.EPROTO: "the agent's reply was not understood",
}


def error_for(err, item=None, message=None):
    """The exception for a positive errno value (as libwxshm returns it, negated)."""
    cls = _BY_ERRNO.get(err, Error)
    if message is None:
        message = _MESSAGES.get(err)
    return cls(err, message, item)
