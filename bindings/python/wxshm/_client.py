"""refresh over the agent's Unix socket: kept-alive connections, the server's uid checked, coalesced per generation."""

import errno
import json
import os
import socket
import struct
import threading
import time

from . import _layout as L
from ._errors import Error, RateLimited, error_for

# The protocol's error codes (libwxshm/wire.h), mapped exactly as libwxshm's refresh.c maps them.
_CODES = {
    "rate_limited": errno.EAGAIN,
    "timeout": errno.ETIMEDOUT,
    "upstream_failed": errno.EIO,
    "too_many_waiters": errno.EBUSY,
    "permission_denied": errno.EACCES,
    "unknown_app": errno.ENOENT,
    "shutting_down": errno.ECONNREFUSED,
}

# A reply line longer than this is not one the agent sends (a token is at most 2048 bytes).
_REPLY_MAX = 2 * L.LINE_MAX
# Idle connections kept per socket path: each is a slot in the agent's max_connections_per_uid.
_IDLE_MAX = 2
_PEERCRED = struct.Struct("3i")

# What this process sent, for tests: requests written, connections made.
stats = {"requests": 0, "connects": 0}


class _Retry(Exception):
    """The kept connection died before any byte of the reply: the request may be sent again."""


def _raise_os(e, item):
    err = e.errno if isinstance(e, OSError) and e.errno else errno.EPROTO
    if isinstance(e, socket.timeout):
        err = errno.ETIMEDOUT
    raise error_for(err, item, None if err in (errno.ENOENT, errno.ECONNREFUSED, errno.ETIMEDOUT)
                    else "%s: %s" % ("socket", e.strerror or e)) from e


class _Conn:
    __slots__ = ("sock", "peer_uid", "used")

    def __init__(self, sock, peer_uid):
        self.sock = sock
        self.peer_uid = peer_uid
        self.used = False


class Client:
    """The connections to one socket path, shared by every handle of the process."""

    def __init__(self, path):
        self.path = path
        self._idle = []
        self._lock = threading.Lock()

    def _connect(self, deadline, item):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            s.settimeout(max(deadline - time.monotonic(), 0.001))
            s.connect(self.path)
            _pid, uid, _gid = _PEERCRED.unpack(s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
        except OSError as e:
            s.close()
            _raise_os(e, item)
        stats["connects"] += 1
        return _Conn(s, uid)

    def _take(self, deadline, item):
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._connect(deadline, item)

    def _give_back(self, c):
        c.used = True
        with self._lock:
            if len(self._idle) < _IDLE_MAX:
                self._idle.append(c)
                return
        c.sock.close()

    def close(self):
        with self._lock:
            idle, self._idle = self._idle, []
        for c in idle:
            c.sock.close()

    def _exchange(self, c, line, deadline, item):
        """One request on c; the reply line. _Retry if a kept connection was gone before any reply byte."""
        s = c.sock
        got = b""
        try:
            s.settimeout(max(deadline - time.monotonic(), 0.001))
            s.sendall(line)
            stats["requests"] += 1
            while True:
                s.settimeout(max(deadline - time.monotonic(), 0.001))
                chunk = s.recv(_REPLY_MAX)
                if not chunk:
                    if not got and c.used:
                        raise _Retry()
                    raise error_for(errno.EPROTO, item, "the agent closed the connection before replying")
                got += chunk
                nl = got.find(b"\n")
                if nl >= 0:
                    break
                if len(got) > _REPLY_MAX:
                    raise error_for(errno.EPROTO, item, "the agent's reply is too long")
        except (BrokenPipeError, ConnectionResetError) as e:
            if not got and c.used:
                raise _Retry() from e
            _raise_os(e, item)
        except OSError as e:
            if isinstance(e, Error):
                raise
            _raise_os(e, item)
        # A request has one reply line; anything after it means we no longer agree where replies start.
        if nl + 1 != len(got):
            raise error_for(errno.EPROTO, item, "more than one reply line")
        return got[:nl]

    def request(self, line, owner, timeout_s, item):
        """Send one request line (bytes, with its newline) to an agent running as owner or root; its reply (bytes)."""
        deadline = time.monotonic() + timeout_s
        for attempt in (0, 1):
            c = self._take(deadline, item)
            if c.peer_uid != 0 and c.peer_uid != owner:
                c.sock.close()
                raise error_for(errno.EPERM, item, "the socket's server (uid %d) is neither the segment's owner "
                                "(uid %s) nor root" % (c.peer_uid, owner))
            try:
                reply = self._exchange(c, line, deadline, item)
            except _Retry:
                c.sock.close()
                continue
            except BaseException:
                c.sock.close()
                raise
            self._give_back(c)
            return reply
        raise error_for(errno.EPROTO, item, "the agent closed the connection twice before replying")


_clients = {}
_clients_lock = threading.Lock()


def client(path):
    with _clients_lock:
        c = _clients.get(path)
        if c is None:
            c = _clients[path] = Client(path)
        return c


def parse_reply(reply, item):
    """(generation, token or None) from a refresh reply, or the exception its error code means."""
    try:
        o = json.loads(reply)
    except (ValueError, UnicodeDecodeError):
        raise error_for(errno.EPROTO, item, "the agent's reply is not JSON") from None
    if not isinstance(o, dict):
        raise error_for(errno.EPROTO, item, "the agent's reply is not a JSON object")
    if o.get("ok") is True:
        g = o.get("generation")
        if type(g) is not int or not 0 <= g < L.GENERATION_LIMIT:
            raise error_for(errno.EPROTO, item, "the agent's reply has no valid generation")
        tok = o.get("token")
        if tok is not None and (type(tok) is not str or not 0 < len(tok) <= L.TOKEN_CAPACITY):
            raise error_for(errno.EPROTO, item, "the agent's reply has an invalid token")
        return g, tok
    code = o.get("error")
    err = _CODES.get(code) if o.get("ok") is False and isinstance(code, str) else None
    if err is None:
        raise error_for(errno.EPROTO, item, "the agent answered %r" % (code,))
    message = o.get("message")
    message = "%s: %s" % (code, message) if isinstance(message, str) else code
    if err == errno.EAGAIN:
        after = o.get("retry_after_ms")
        raise RateLimited(err, message, item, after if type(after) is int else None)
    raise error_for(err, item, message)


class _Flight:
    __slots__ = ("done", "result", "error")

    def __init__(self):
        self.done = threading.Event()
        self.result = None
        self.error = None


_flights = {}
_flights_lock = threading.Lock()


def _copy(e):
    """A new exception like e: one object raised in several threads would share one traceback."""
    cls, args = e.__reduce__()[:2]
    return cls(*args)


def coalesced(key, call, wait_s):
    """call() once for every caller asking for key at the same time; each gets its result or error."""
    with _flights_lock:
        f = _flights.get(key)
        leader = f is None
        if leader:
            f = _flights[key] = _Flight()
    if leader:
        try:
            f.result = call()
        except Error as e:
            f.error = e
            raise
        finally:
            with _flights_lock:
                del _flights[key]
            f.done.set()
        return f.result
    if not f.done.wait(wait_s):
        raise error_for(errno.ETIMEDOUT, key[1])
    if f.error is not None:
        raise _copy(f.error)
    if f.result is None:
        # The leader failed with something else (interrupted): ask on our own.
        return call()
    return f.result


def _after_fork_in_child():
    """A forked child (gunicorn, uwsgi workers) must not share the parent's connections or waits."""
    global _clients, _clients_lock, _flights, _flights_lock
    old = _clients
    _clients, _clients_lock = {}, threading.Lock()
    _flights, _flights_lock = {}, threading.Lock()
    for c in old.values():
        # Closing the child's copies leaves the parent's connections as they are.
        for conn in c._idle:
            conn.sock.close()


os.register_at_fork(after_in_child=_after_fork_in_child)


def refresh(path, item, owner, generation, timeout_ms):
    """The generation the agent published after refusing generation; coalesced per (socket, item, generation)."""
    if isinstance(generation, bool) or not isinstance(generation, int):
        raise error_for(errno.EINVAL, item, "generation must be an int")
    if not 0 <= generation < L.GENERATION_LIMIT:
        raise error_for(errno.EINVAL, item, "generation must be in [0, 2^53)")
    timeout_ms = int(timeout_ms) if timeout_ms else 0
    if timeout_ms <= 0:
        timeout_ms = L.TIMEOUT_DEFAULT_MS
    if timeout_ms > L.TIMEOUT_MAX_MS:
        timeout_ms = L.TIMEOUT_MAX_MS
    wait_s = (timeout_ms + L.REPLY_SLACK_MS) / 1000.0
    # The name passed name_valid(): nothing in it needs escaping.
    line = ('{"op":"refresh","app":"%s","generation":%d,"timeout_ms":%d,"token":true}\n'
            % (item, generation, timeout_ms)).encode("ascii")

    def call():
        return parse_reply(client(path).request(line, owner, wait_s, item), item)

    return coalesced((path, item, generation, owner), call, wait_s)
