"""Against the real agent and wxemu (run under tests/conformance/with-agent.sh): read, refresh, failures, removal."""

import configparser
import errno
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

import wxshm
from wxshm import _client
from tests.support import EXPECTED_READER, IS_ROOT, OTHER_USER, forget_connections, open_handle

ENV = ("WXSHM_DIR", "WXTOKEND_SOCKET", "WXEMU_URL", "WXTOKEND_CONF", "WXTOKEND_PID", "WXTOKENCTL")
HAVE_AGENT = all(os.environ.get(k) for k in ENV)
WAIT_S = 20  # a generous bound on waits for an event; never a measured duration


def appid(app):
    conf = configparser.ConfigParser(interpolation=None, strict=False)
    conf.read(os.environ["WXTOKEND_CONF"])
    return conf["app %s" % app]["appid"].strip()


def emu(path, method="GET"):
    req = urllib.request.Request(os.environ["WXEMU_URL"] + path, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"{}")


def token_calls(app):
    return emu("/emu/stats")["apps"][appid(app)]["token_calls"]


def ctl(*args):
    return subprocess.run([os.environ["WXTOKENCTL"]] + list(args), capture_output=True, text=True, timeout=60)


def metric(name, item):
    """A counter of the agent's metrics for one item."""
    text = ctl("metrics").stdout
    for line in text.splitlines():
        if line.startswith(name + "{") and re.search(r'item="%s"' % re.escape(item), line):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no %s for %s in the agent's metrics" % (name, item))


@unittest.skipUnless(HAVE_AGENT, "run under tests/conformance/with-agent.sh")
class AgentTest(unittest.TestCase):
    """Named in the order they must run: the last ones remove an app and stop the agent."""

    def setUp(self):
        forget_connections()

    def test_1_read(self):
        with open_handle("shop") as h:
            self.assertEqual(h.reader, EXPECTED_READER)
            t = h.read()
        self.assertGreaterEqual(t.generation, 1)
        self.assertFalse(t.stale)
        self.assertIs(t.state, wxshm.State.FRESH)
        self.assertGreater(t.expires_at_ms, time.time_ns() // 1000000)
        self.assertLessEqual(t.fetched_at_ms, time.time_ns() // 1000000)
        got = ctl("get", "--json", "shop")
        self.assertEqual(got.returncode, 0, got.stderr)
        self.assertEqual((json.loads(got.stdout)["token"], json.loads(got.stdout)["generation"]),
                         (t.token, t.generation))
        with open_handle("mall.jsapi") as h:
            self.assertEqual(h.read().token, json.loads(ctl("get", "--json", "mall.jsapi").stdout)["token"])

    def test_2_cli(self):
        p = subprocess.run([sys.executable, "-m", "wxshm", "get", "shop"], capture_output=True, text=True, timeout=60)
        self.assertEqual((p.returncode, p.stderr), (0, ""))
        self.assertEqual(p.stdout.strip(), ctl("get", "shop").stdout.strip())

    def refresh_spaced(self, h, g):
        """refresh(g), waiting out the agent's spacing of forced refreshes (min_force_interval) if it says so."""
        deadline = time.monotonic() + 90
        while True:
            try:
                return h.refresh(g)
            except wxshm.RateLimited as e:
                if time.monotonic() > deadline:
                    raise
                time.sleep(max(e.retry_after_ms or 1000, 50) / 1000.0)

    def test_3_compare_and_refresh(self):
        with open_handle("shop") as h:
            for _ in range(3):
                t = h.read()
                calls = token_calls("shop")
                g = self.refresh_spaced(h, t.generation)
                self.assertEqual(g, t.generation + 1)
                t2 = h.read()
                self.assertEqual(t2.generation, g)
                self.assertNotEqual(t2.token, t.token)
                self.assertEqual(token_calls("shop"), calls + 1, "one upstream call per forced generation")
                # The old generation again (another request that used it): answered at once, no call,
                # and with the token, as the request asks ("token":true).
                self.assertEqual(_client.refresh(h.socket_path, "shop", h.owner, t.generation, 5000),
                                 (g, t2.token))
                self.assertEqual(h.refresh(t.generation), g)
                self.assertEqual(token_calls("shop"), calls + 1)

    def test_4_coalesced(self):
        with open_handle("shop") as h:
            t = h.read()
            # Let the agent's call take a while, so all the refreshes below overlap it.
            emu("/emu/fault?app=%s&kind=slow&ms=1500&count=1&on=tokens" % appid("shop"), "POST")
            calls = token_calls("shop")
            joined = metric("wxtokend_forced_refresh_coalesced_total", "shop")
            sent = _client.stats["requests"]
            results, errors = [], []
            start = threading.Barrier(8)

            def call():
                start.wait()
                try:
                    results.append(self.refresh_spaced(h, t.generation))
                except wxshm.Error as e:
                    errors.append(e)

            threads = [threading.Thread(target=call) for _ in range(8)]
            for th in threads:
                th.start()
            for th in threads:
                th.join(WAIT_S * 3)
            self.assertEqual(errors, [])
            self.assertEqual(results, [t.generation + 1] * 8)
            self.assertEqual(token_calls("shop"), calls + 1)
            # The agent saw one request, not eight that it coalesced itself.
            self.assertEqual(metric("wxtokend_forced_refresh_coalesced_total", "shop"), joined)
            self.assertEqual(_client.stats["requests"] - sent, 1)

    def test_5_unknown_app(self):
        with self.assertRaises(wxshm.NotFound):
            open_handle("nosuchapp")
        with open_handle("shop") as h:
            with self.assertRaises(wxshm.NotFound) as cm:
                _client.refresh(h.socket_path, "nosuchapp", h.owner, 1, 2000)
        self.assertIn("unknown_app", str(cm.exception))

    def test_6_agent_socket_missing(self):
        with open_handle("shop", socket_path=os.environ["WXTOKEND_SOCKET"] + ".nothere") as h:
            self.assertGreaterEqual(h.read().generation, 1)  # reading needs no agent
            with self.assertRaises(wxshm.NotFound):
                h.refresh(h.read().generation)

    @unittest.skipUnless(IS_ROOT and shutil.which("setpriv"), "needs root and setpriv")
    def test_7_permission_denied(self):
        try:
            user = pwd.getpwnam(OTHER_USER)
        except KeyError:
            self.skipTest("no user %s" % OTHER_USER)
        code = ("import os, sys, wxshm\n"
                "from wxshm import _client\n"
                "try:\n"
                "    wxshm.open('shop')\n"
                "    print('opened')\n"
                "except wxshm.AccessDenied as e:\n"
                "    print('open', e.errno)\n"
                "try:\n"
                "    _client.refresh(os.environ['WXTOKEND_SOCKET'], 'shop', int(sys.argv[1]), 1, 2000)\n"
                "    print('refreshed')\n"
                "except wxshm.AccessDenied as e:\n"
                "    print('refresh', e.errno)\n")
        owner = os.stat(os.environ["WXSHM_DIR"]).st_uid
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        env.pop("PYTHONPYCACHEPREFIX", None)
        p = subprocess.run(["setpriv", "--reuid=%d" % user.pw_uid, "--regid=%d" % user.pw_gid, "--clear-groups",
                            sys.executable, "-c", code, str(owner)], capture_output=True, text=True, env=env,
                           timeout=60)
        self.assertEqual(p.stdout.split("\n")[:2], ["open %d" % errno.EACCES, "refresh %d" % errno.EACCES],
                         p.stderr)

    def test_8_removed(self):
        with open_handle("mall") as mall, open_handle("mall.jsapi") as ticket, open_handle("shop") as shop:
            mall.read()
            ticket.read()
            conf = os.environ["WXTOKEND_CONF"]
            with open(conf) as f:
                text = f.read()
            # Drop the [app mall] section.
            kept = re.sub(r"(?ms)^\[app mall\].*?(?=^\[|\Z)", "", text)
            self.assertNotEqual(kept, text)
            with open(conf, "w") as f:
                f.write(kept)
            try:
                r = ctl("reload")
                self.assertEqual(r.returncode, 0, r.stderr)
                for h in (mall, ticket):
                    deadline = time.monotonic() + WAIT_S
                    while True:
                        try:
                            h.read()
                        except wxshm.Removed as e:
                            self.assertEqual(e.errno, errno.ENXIO)
                            break
                        self.assertLess(time.monotonic(), deadline, "%s was not reported removed" % h.item)
                        time.sleep(0.01)
                with self.assertRaises(wxshm.NotFound):
                    open_handle("mall")
                self.assertGreaterEqual(shop.read().generation, 1)
            finally:
                with open(conf, "w") as f:
                    f.write(text)

    def test_9_agent_down(self):
        with open_handle("shop") as h:
            before = h.read()
            os.kill(int(os.environ["WXTOKEND_PID"]), signal.SIGTERM)
            deadline = time.monotonic() + WAIT_S
            while h.read().state != wxshm.State.STOPPED:
                self.assertLess(time.monotonic(), deadline, "the agent did not mark the segment stopped")
                time.sleep(0.01)
            t = h.read()  # the token is served until it expires
            self.assertEqual((t.token, t.generation, t.stale), (before.token, before.generation, False))
            deadline = time.monotonic() + WAIT_S
            while True:
                try:
                    h.refresh(t.generation, timeout_ms=1000)
                except (wxshm.NotFound, wxshm.AgentStopping):
                    break
                except wxshm.Error:
                    pass
                self.assertLess(time.monotonic(), deadline, "refresh still answered after the agent stopped")
                time.sleep(0.05)


if __name__ == "__main__":
    unittest.main()
