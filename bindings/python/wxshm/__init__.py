"""wxshm: read the WeChat access tokens wxtokend publishes, and ask it for a refresh.

    import wxshm

    h = wxshm.open("shop")              # once per process and item
    t = h.read()                        # no system call: t.token, t.generation, t.stale, ...
    ... call WeChat with t.token ...
    if errcode in (40001, 40014, 42001):
        h.refresh(t.generation)         # name the generation this request used
        t = h.read()                    # and retry the call once

Reading is pure Python on x86-64 and goes through libwxshm (ctypes) elsewhere; see README.md.
"""

from ._errors import (AccessDenied, AgentStopping, BadSegment, Busy, Error, InvalidArgument, NoData,
                      NotFound, NotTrusted, ProtocolError, RateLimited, Removed, Retired, Timeout,
                      TooManyWaiters, Unsupported, UpstreamFailed, VersionNotSupported)
from ._base import Handle, State, Token
from ._reader import open

__version__ = "0.1.0"

__all__ = [
    "open", "Handle", "Token", "State",
    "Error", "InvalidArgument", "NotFound", "Removed", "Retired", "AccessDenied", "NotTrusted",
    "BadSegment", "VersionNotSupported", "NoData", "Busy", "RateLimited", "Timeout",
    "UpstreamFailed", "TooManyWaiters", "AgentStopping", "ProtocolError", "Unsupported",
]
