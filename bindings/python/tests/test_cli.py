"""python3 -m wxshm: what get and refresh print, and their exit status, on hand-made segments."""

import contextlib
import io
import json
import os
import subprocess
import sys
import time
import unittest

import wxshm.__main__ as wxshm_main
from tests import segfile
from tests.support import READER, remove, scratch_dir


def wxshm_cli(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    e["WXSHM_PY_READER"] = READER
    return subprocess.run([sys.executable, "-m", "wxshm"] + list(args), capture_output=True, text=True, env=e,
                          timeout=60)


class CliTest(unittest.TestCase):
    def setUp(self):
        self.dir = scratch_dir()
        self.env = {"WXSHM_DIR": self.dir, "WXTOKEND_SOCKET": os.path.join(self.dir, "none.sock")}

    def tearDown(self):
        remove(self.dir)

    def test_get(self):
        segfile.write(self.dir, "shop", segfile.image(g=12))
        p = wxshm_cli("get", "shop", env=self.env)
        self.assertEqual((p.returncode, p.stdout, p.stderr), (0, segfile.kit_token(12) + "\n", ""))

    def test_get_json(self):
        segfile.write(self.dir, "shop.jsapi", segfile.image(g=3, state=3))
        p = wxshm_cli("get", "--json", "shop.jsapi", env=self.env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout), {"app": "shop.jsapi", "token": segfile.kit_token(3), "generation": 3,
                                                "expires_at": segfile.EPOCH_2100 + 3, "state": "retrying"})

    def test_get_failures(self):
        segfile.write(self.dir, "old", segfile.image(g=2, expires=time.time_ns() // 1000000 - 120000, state=6))
        p = wxshm_cli("get", "old", env=self.env)
        # An expired token is not printed: a script would hand it on.
        self.assertEqual((p.returncode, p.stdout), (1, ""))
        self.assertRegex(p.stderr, r"the token expired 1[2-9][0-9] s ago \(state stopped\)")
        p = wxshm_cli("get", "missing", env=self.env)
        self.assertEqual((p.returncode, p.stdout), (1, ""))
        self.assertIn("ENOENT", p.stderr)
        p = wxshm_cli("get", "bad!name", env=self.env)
        self.assertEqual(p.returncode, 1)
        self.assertIn("EINVAL", p.stderr)

    def test_refresh_without_agent(self):
        segfile.write(self.dir, "shop", segfile.image(g=2))
        p = wxshm_cli("refresh", "shop", "2", env=self.env)
        self.assertEqual((p.returncode, p.stdout), (1, ""))
        self.assertIn("ENOENT", p.stderr)

    def test_usage(self):
        self.assertEqual(wxshm_cli("get", env=self.env).returncode, 64)
        # The rest in this process: the parser is the same, a process start costs more than the test.
        for args in ((), ("frobnicate", "shop"), ("get", "a", "b"), ("refresh", "shop", "x"),
                     ("--reader", "fast", "get", "shop")):
            with self.subTest(args=args):
                out, err = io.StringIO(), io.StringIO()
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    with self.assertRaises(SystemExit) as cm:
                        wxshm_main.main(list(args))
                self.assertEqual((cm.exception.code, out.getvalue()), (64, ""))
                self.assertIn("usage:", err.getvalue())


if __name__ == "__main__":
    unittest.main()
