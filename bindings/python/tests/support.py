"""What the suites share: the reader under test, temporary segment directories, a fake agent socket."""

import os
import shutil
import socket
import tempfile
import threading

import wxshm
from wxshm import _reader

# test.sh runs each suite once per reader: WXSHM_PY_READER=pure, then =ctypes.
READER = os.environ.get("WXSHM_PY_READER", "auto")
EXPECTED_READER = {"pure": "pure", "ctypes": "ctypes"}.get(READER, "pure" if _reader.X86_64 else "ctypes")
IS_ROOT = os.geteuid() == 0
OTHER_USER = "wxconfuser"


def scratch_dir():
    """A fresh 0751 directory: trusted, as the caller owns it."""
    base = os.environ.get("WXPY_TMP") or None
    d = tempfile.mkdtemp(prefix="wxpy.", dir=base)
    os.chmod(d, 0o751)
    return d


def remove(d):
    shutil.rmtree(d, ignore_errors=True)


class FakeAgent:
    """A socket server answering refresh lines as answer(line, conn_no, req_no) says.

    answer returns a reply (str, newline added), None (close the connection without a
    reply) or "hang" (never answer). It runs in this process, so SO_PEERCRED says our uid.
    """

    def __init__(self, path, answer):
        self.path = path
        self.answer = answer
        self.lines = []
        self.connections = 0
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(64)
        self.closed = threading.Event()
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                n = self.connections
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c, n), daemon=True).start()

    def _serve(self, c, conn_no):
        buf = b""
        req_no = 0
        try:
            while True:
                chunk = c.recv(8192)
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    req_no += 1
                    with self.lock:
                        self.lines.append(line.decode())
                    reply = self.answer(line.decode(), conn_no, req_no)
                    if reply == "hang":
                        self.closed.wait(30)
                        return
                    if reply is None:
                        return
                    c.sendall(reply.encode() + b"\n")
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.closed.set()
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def forget_connections():
    """Drop this process's kept connections (each test talks to its own fake agent)."""
    from wxshm import _client
    with _client._clients_lock:
        clients = list(_client._clients.values())
        _client._clients.clear()
    for c in clients:
        c.close()


def open_handle(item, **kw):
    kw.setdefault("reader", READER)
    return wxshm.open(item, **kw)
