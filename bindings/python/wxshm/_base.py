"""What both readers share: State, Token, the Handle base class, the bounded retry of opening."""

import enum
import errno
import os
import platform
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

# Bounded retries (the contract): a segment still being made (0 bytes, or magic 0) is re-opened this many
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
