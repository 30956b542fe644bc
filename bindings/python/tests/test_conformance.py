"""The conformance kit (tests/conformance): the writer's torn-copy check, its negative control, and every sample."""

import errno
import os
import signal
import subprocess
import time
import unittest

import wxshm
from tests import segfile
from tests.support import EXPECTED_READER, IS_ROOT, READER, open_handle, remove, scratch_dir

BUILD = os.environ.get("WXBUILD", "")
WRITER = os.path.join(BUILD, "tests/conformance/wxconf-writer")
SAMPLES = os.path.join(BUILD, "tests/conformance/wxconf-samples")

READS = int(os.environ.get("WXPY_CONFORMANCE_READS", "1000000"))
GENERATIONS = 1000
LIMIT_S = float(os.environ.get("WXPY_CONFORMANCE_LIMIT_S", "150"))
CONTROL_READS = 2000000

_REP = segfile.ALPHA * 34
_BASE = segfile.EPOCH_2100


def _conforms(token, g, expires, fetched):
    """Whether a copy is exactly generation g's (a torn copy cannot be: see wxconf.h)."""
    start = (g * 17) % 64
    return (g > 0 and expires == _BASE + g and fetched == _BASE - g
            and token == _REP[start:start + 1 + (g * 7919) % 2048])


def run_reads(read, reads, limit_s):
    """read() until reads succeeded over >= GENERATIONS generations (or limit_s passed): the counts."""
    ok = torn = busy = distinct = stale = 0
    last = -1
    first_torn = None
    deadline = time.monotonic() + limit_s
    n = 0
    while ok < reads or distinct < GENERATIONS:
        n += 1
        if not n & 0xFFFF and time.monotonic() > deadline:
            break
        try:
            t = read()
        except wxshm.Busy:
            busy += 1
            continue
        if t is None:  # the control's copy with an impossible length
            torn += 1
            continue
        token, g, expires, fetched = t[0], t[1], t[2], t[3]
        start = (g * 17) % 64
        if (expires == _BASE + g and fetched == _BASE - g
                and token == _REP[start:start + 1 + (g * 7919) % 2048]):
            ok += 1
        else:
            torn += 1
            if first_torn is None:
                first_torn = (g, len(token), expires - _BASE, _BASE - fetched)
        if len(t) > 5 and t[5]:
            stale += 1
        if g != last:
            distinct += 1
            last = g
    return {"ok": ok, "torn": torn, "busy": busy, "generations": distinct, "stale": stale, "first_torn": first_torn}


def unchecked_reader(h):
    """The negative control: the pure read loop WITHOUT the second load of seq (test code only)."""
    Q, q, B = h._Q, h._q, h._B

    def read():
        s = Q[8]
        w = 24 + 264 * (s & 1)
        n = Q[w]
        if n > 2048:
            return None
        b = w * 8 + 64
        return (str(B[b:b + n], "latin-1"), Q[w + 1], q[w + 2], q[w + 3])

    return read


@unittest.skipUnless(os.access(WRITER, os.X_OK), "no wxconf-writer (set WXBUILD)")
class WriterTest(unittest.TestCase):
    """wxconf-writer publishes as fast as it can; every successful read must be one whole generation."""

    @classmethod
    def setUpClass(cls):
        cls.dir = scratch_dir()
        cls.writer = subprocess.Popen([WRITER, cls.dir, "conf", str(int(LIMIT_S * 2 + 60))], stdout=subprocess.PIPE)
        line = cls.writer.stdout.readline()
        if not line.startswith(b"ready"):
            cls.writer.kill()
            raise RuntimeError("wxconf-writer said %r" % line)

    @classmethod
    def tearDownClass(cls):
        cls.writer.send_signal(signal.SIGTERM)
        cls.writer.wait(30)
        remove(cls.dir)

    def report(self, name, c, seconds, cpu):
        print("\n  %s (%s reader): %d reads ok, %d torn, %d busy, %d generations, %.1f s (%.1f s of CPU)"
              % (name, EXPECTED_READER, c["ok"], c["torn"], c["busy"], c["generations"], seconds, cpu), flush=True)

    def test_no_torn_copy(self):
        with open_handle("conf", dir=self.dir) as h:
            self.assertEqual(h.reader, EXPECTED_READER)
            t0, c0 = time.monotonic(), time.process_time()
            c = run_reads(h.read, READS, LIMIT_S)
            self.report("conformance", c, time.monotonic() - t0, time.process_time() - c0)
        self.assertEqual(c["torn"], 0, "torn copies, the first: %s" % (c["first_torn"],))
        self.assertEqual(c["stale"], 0)
        self.assertGreaterEqual(c["ok"], READS, "too few reads in %s s" % LIMIT_S)
        self.assertGreaterEqual(c["generations"], GENERATIONS)

    @unittest.skipUnless(READER == "pure", "the control drops the pure reader's re-check")
    def test_negative_control(self):
        """Without the re-check the same counts must see torn copies; if not, the kit proves nothing."""
        with open_handle("conf", dir=self.dir, reader="pure") as h:
            t0, c0 = time.monotonic(), time.process_time()
            read = unchecked_reader(h)
            c = {"torn": 0}
            n = 0
            while c["torn"] == 0 and n < CONTROL_READS:
                c = run_reads(read, 100000, LIMIT_S / 4)
                n += c["ok"] + c["torn"]
            self.report("negative control", c, time.monotonic() - t0, time.process_time() - c0)
        self.assertGreater(c["torn"], 0, "the control was NOT caught: the kit's checks see no torn copy "
                           "even without the re-check (a failure of the control)")


@unittest.skipUnless(os.access(SAMPLES, os.X_OK), "no wxconf-samples (set WXBUILD)")
class SamplesTest(unittest.TestCase):
    """Every line of wxconf-samples' EXPECTED: what opening then reading the item must give."""

    def setUp(self):
        self.dir = scratch_dir()
        os.rmdir(self.dir)  # wxconf-samples makes it
        subprocess.run([SAMPLES, self.dir], check=True)
        with open(os.path.join(self.dir, "EXPECTED")) as f:
            self.expected = [line.split() for line in f if line.strip()]

    def tearDown(self):
        remove(self.dir)

    def outcome(self, item):
        try:
            with open_handle(item, dir=self.dir) as h:
                self.assertEqual(h.reader, EXPECTED_READER)
                t = h.read()
        except wxshm.Error as e:
            return errno.errorcode.get(e.errno, str(e.errno))
        if not _conforms(t.token, t.generation, t.expires_at_ms if not t.stale else _BASE + 1,
                         t.fetched_at_ms if not t.stale else _BASE - 1) or t.generation != 1:
            return "wrong token"
        return "stale" if t.stale else "ok"

    def test_samples(self):
        self.assertGreaterEqual(len(self.expected), 20)
        names = [item for item, _ in self.expected]
        if IS_ROOT:
            self.assertIn("wrongowner", names)
        for item, want in self.expected:
            with self.subTest(item=item):
                self.assertEqual(self.outcome(item), want)


if __name__ == "__main__":
    unittest.main()
