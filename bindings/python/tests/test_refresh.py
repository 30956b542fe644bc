"""refresh against a fake agent socket: the request line, replies and errors, keep-alive, reconnect, coalescing, peer check."""

import errno
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import threading
import time
import unittest

import wxshm
from wxshm import _client
from tests import segfile
from tests.support import IS_ROOT, OTHER_USER, FakeAgent, forget_connections, open_handle, remove, scratch_dir


def ok(g, token=True):
    o = {"ok": True, "generation": g, "app": "shop"}
    if token:
        o["token"] = segfile.kit_token(g)
    return json.dumps(o, separators=(",", ":"))


def err(code, **kw):
    return json.dumps(dict({"ok": False, "error": code, "message": "said by the fake"}, **kw))


class RefreshTest(unittest.TestCase):
    def setUp(self):
        self.dir = scratch_dir()
        segfile.write(self.dir, "shop", segfile.image(g=1))
        self.sock = os.path.join(self.dir, "agent.sock")
        self.agent = None
        forget_connections()

    def tearDown(self):
        if self.agent:
            self.agent.close()
        forget_connections()
        remove(self.dir)

    def serve(self, answer):
        self.agent = FakeAgent(self.sock, answer)
        return self.agent

    def handle(self):
        return open_handle("shop", dir=self.dir, socket_path=self.sock)

    def requests(self):
        return [json.loads(line) for line in self.agent.lines]

    def test_request_and_reply(self):
        self.serve(lambda line, c, n: ok(json.loads(line)["generation"] + 1))
        with self.handle() as h:
            self.assertEqual(h.refresh(1), 2)
            self.assertEqual(h.refresh(7, timeout_ms=0), 8)
            self.assertEqual(h.refresh(8, timeout_ms=99999), 9)
            self.assertEqual(h.refresh(9, timeout_ms=1234), 10)
        self.assertEqual(self.agent.lines[0],
                         '{"op":"refresh","app":"shop","generation":1,"timeout_ms":5000,"token":true}')
        self.assertEqual([r["timeout_ms"] for r in self.requests()], [5000, 5000, 60000, 1234])

    def test_reply_without_token(self):
        # An agent before "token":true ignores the field and omits it from the reply.
        self.serve(lambda line, c, n: ok(4, token=False))
        with self.handle() as h:
            self.assertEqual(h.refresh(3), 4)

    def test_bad_generation(self):
        self.serve(lambda line, c, n: ok(2))
        with self.handle() as h:
            for g in (-1, 1 << 53, True, 1.0, "1", None):
                with self.assertRaises(wxshm.InvalidArgument, msg=repr(g)):
                    h.refresh(g)
            self.assertEqual(h.refresh((1 << 53) - 1), 2)
        self.assertEqual(len(self.agent.lines), 1)

    def test_error_codes(self):
        table = [("rate_limited", wxshm.RateLimited, errno.EAGAIN), ("timeout", wxshm.Timeout, errno.ETIMEDOUT),
                 ("upstream_failed", wxshm.UpstreamFailed, errno.EIO),
                 ("too_many_waiters", wxshm.TooManyWaiters, errno.EBUSY),
                 ("permission_denied", wxshm.AccessDenied, errno.EACCES),
                 ("unknown_app", wxshm.NotFound, errno.ENOENT),
                 ("shutting_down", wxshm.AgentStopping, errno.ECONNREFUSED),
                 ("bad_request", wxshm.ProtocolError, errno.EPROTO),
                 ("no_token", wxshm.ProtocolError, errno.EPROTO)]
        for code, cls, e in table:
            with self.subTest(code=code):
                with self.assertRaises(cls) as cm:
                    _client.parse_reply(err(code, retry_after_ms=1500).encode(), "shop")
                self.assertEqual(cm.exception.errno, e)
                self.assertEqual(cm.exception.item, "shop")
        with self.assertRaises(wxshm.RateLimited) as cm:
            _client.parse_reply(err("rate_limited", retry_after_ms=1500).encode(), "shop")
        self.assertEqual(cm.exception.retry_after_ms, 1500)
        for bad in (b"", b"nonsense", b"[1]", b'{"ok":true}', b'{"ok":true,"generation":-1}',
                    b'{"ok":true,"generation":9007199254740992}', b'{"ok":true,"generation":true}',
                    b'{"ok":true,"generation":1.5}', b'{"ok":true,"generation":2,"token":5}',
                    b'{"ok":"yes","error":"timeout"}', b'{"ok":false}', b"\xff\xfe"):
            with self.subTest(reply=bad):
                with self.assertRaises(wxshm.ProtocolError):
                    _client.parse_reply(bad, "shop")

    def test_errors_through_the_socket(self):
        self.serve(lambda line, c, n: err("rate_limited", retry_after_ms=250))
        with self.handle() as h:
            with self.assertRaises(wxshm.RateLimited) as cm:
                h.refresh(1)
        self.assertEqual(cm.exception.retry_after_ms, 250)

    def test_kept_alive(self):
        self.serve(lambda line, c, n: ok(json.loads(line)["generation"] + 1))
        with self.handle() as h:
            for g in range(1, 6):
                self.assertEqual(h.refresh(g), g + 1)
        self.assertEqual(self.agent.connections, 1)

    def test_reconnect_once_after_eviction(self):
        # The agent closes a kept connection (evicted when full): the next request goes on a new one.
        self.serve(lambda line, c, n: ok(c + 1) if n == 1 else None)
        with self.handle() as h:
            self.assertEqual(h.refresh(1), 2)
            self.assertEqual(h.refresh(1), 3)
            self.assertEqual(h.refresh(1), 4)
        self.assertEqual(self.agent.connections, 3)

    def test_fork(self):
        # A forked worker must not write on its parent's kept connection: replies would cross.
        self.serve(lambda line, c, n: ok(100 * c + n))
        with self.handle() as h:
            self.assertEqual(h.refresh(1), 101)
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    code = 0 if h.refresh(1) == 201 and h.read().generation == 1 else 2
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            self.assertEqual(os.waitstatus_to_exitcode(status), 0)
            self.assertEqual(h.refresh(1), 102)
        self.assertEqual(self.agent.connections, 2)

    def test_no_second_reconnect(self):
        self.serve(lambda line, c, n: ok(2) if (c, n) == (1, 1) else None)
        with self.handle() as h:
            self.assertEqual(h.refresh(1), 2)
            with self.assertRaises(wxshm.ProtocolError):
                h.refresh(1)  # the kept one is dead, the new one closes too: not a third
        self.assertEqual(self.agent.connections, 2)

    def test_closed_without_reply(self):
        self.serve(lambda line, c, n: None)
        with self.handle() as h:
            with self.assertRaises(wxshm.ProtocolError):
                h.refresh(1)
        self.assertEqual(self.agent.connections, 1)

    def test_two_lines_in_one_reply(self):
        self.serve(lambda line, c, n: ok(2) + "\n" + ok(3))
        with self.handle() as h:
            with self.assertRaises(wxshm.ProtocolError):
                h.refresh(1)

    def test_no_reply_times_out(self):
        self.serve(lambda line, c, n: "hang")
        with self.handle() as h:
            with self.assertRaises(wxshm.Timeout) as cm:
                h.refresh(1, timeout_ms=100)  # the client waits 100 + 1000 ms
        self.assertIsInstance(cm.exception, TimeoutError)

    def test_no_agent(self):
        with self.handle() as h:
            with self.assertRaises(wxshm.NotFound):
                h.refresh(1)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(self.sock)  # bound, never listening: connect is refused
            try:
                with self.assertRaises(wxshm.AgentStopping):
                    h.refresh(1)
            finally:
                s.close()

    def test_coalesced_per_generation(self):
        gate = threading.Event()

        def answer(line, c, n):
            gate.wait(10)
            return ok(json.loads(line)["generation"] + 1)

        self.serve(answer)
        results, errors = [], []
        with self.handle() as h:
            def call(g):
                try:
                    results.append(h.refresh(g))
                except Exception as e:  # noqa: BLE001 (collected, then checked)
                    errors.append(e)

            threads = [threading.Thread(target=call, args=(5,)) for _ in range(8)]
            threads += [threading.Thread(target=call, args=(6,)) for _ in range(3)]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 10
            while len(self.agent.lines) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.2)  # let any request that was not coalesced arrive too
            gate.set()
            for t in threads:
                t.join()
        self.assertEqual(errors, [])
        self.assertEqual(sorted(results), [6] * 8 + [7] * 3)
        self.assertEqual(sorted(r["generation"] for r in self.requests()), [5, 6])

    def test_coalesced_errors(self):
        gate = threading.Event()

        def answer(line, c, n):
            gate.wait(10)
            return err("upstream_failed")

        self.serve(answer)
        errors = []
        with self.handle() as h:
            def call():
                try:
                    h.refresh(5)
                except wxshm.Error as e:
                    errors.append(e)

            threads = [threading.Thread(target=call) for _ in range(5)]
            for t in threads:
                t.start()
            while not self.agent.lines:
                time.sleep(0.01)
            time.sleep(0.2)
            gate.set()
            for t in threads:
                t.join()
        self.assertEqual(len(self.agent.lines), 1)
        self.assertEqual([type(e) for e in errors], [wxshm.UpstreamFailed] * 5)
        self.assertEqual(len({id(e) for e in errors}), 5)

    @unittest.skipUnless(IS_ROOT and shutil.which("setpriv"), "needs root and setpriv")
    def test_stranger_socket_refused(self):
        try:
            other = pwd.getpwnam(OTHER_USER)
        except KeyError:
            self.skipTest("no user %s (test.sh makes it)" % OTHER_USER)
        # A server of another user, where the agent's socket should be: the client must not talk to it.
        server = ("import socket,sys,time\n"
                  "s=socket.socket(socket.AF_UNIX,socket.SOCK_STREAM);s.bind(sys.argv[1]);s.listen(4)\n"
                  "print('up',flush=True)\n"
                  "while True:\n"
                  "    c,_=s.accept()\n"
                  "    try:\n"
                  "        c.recv(4096) and c.sendall(b'{\"ok\":true,\"generation\":9}\\n')\n"
                  "    except OSError:\n"
                  "        pass\n"
                  "    c.close()\n")
        os.chown(self.dir, other.pw_uid, -1)
        os.chmod(self.dir, 0o755)
        p = subprocess.Popen(["setpriv", "--reuid=%d" % other.pw_uid, "--regid=%d" % other.pw_gid, "--clear-groups",
                              sys.executable, "-c", server, self.sock], stdout=subprocess.PIPE)
        try:
            self.assertEqual(p.stdout.readline().strip(), b"up")
            os.chown(self.dir, 0, -1)
            os.chmod(self.dir, 0o751)
            with self.handle() as h:
                self.assertEqual(h.owner, 0)
                with self.assertRaises(wxshm.NotTrusted) as cm:
                    h.refresh(1)
            self.assertEqual(cm.exception.errno, errno.EPERM)
            # The same server is right when it owns the segment.
            os.chown(os.path.join(self.dir, "shop"), other.pw_uid, -1)
            os.chown(self.dir, other.pw_uid, -1)
            # A directory of an ordinary user is trusted only by that user: we can't open it as root,
            # so ask with the owner the handle would have.
            self.assertEqual(_client.refresh(self.sock, "shop", other.pw_uid, 1, 1000)[0], 9)
        finally:
            p.kill()
            p.wait()


if __name__ == "__main__":
    unittest.main()
