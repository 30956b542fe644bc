"""Opening and reading hand-made segments: names, the trust rule, every refusal, stale, retired, removed."""

import errno
import os
import pickle
import threading
import time
import unittest

import wxshm
from wxshm import _layout
from tests import segfile
from tests.support import EXPECTED_READER, IS_ROOT, open_handle, remove, scratch_dir


class SegmentTest(unittest.TestCase):
    def setUp(self):
        self.dir = scratch_dir()
        self.old_env = os.environ.get("WXSHM_DIR")
        os.environ["WXSHM_DIR"] = self.dir

    def tearDown(self):
        if self.old_env is None:
            os.environ.pop("WXSHM_DIR", None)
        else:
            os.environ["WXSHM_DIR"] = self.old_env
        remove(self.dir)

    def put(self, item="shop", **kw):
        return segfile.write(self.dir, item, segfile.image(**kw))

    def assertRaisesErrno(self, cls, err, fn, *args, **kw):
        with self.assertRaises(cls) as cm:
            fn(*args, **kw)
        self.assertEqual(cm.exception.errno, err, str(cm.exception))
        self.assertIsInstance(cm.exception, wxshm.Error)
        return cm.exception

    # --- reading ------------------------------------------------------------------------

    def test_read(self):
        self.put(g=5)
        with open_handle("shop") as h:
            self.assertEqual(h.reader, EXPECTED_READER)
            t = h.read()
        self.assertEqual(t.token, segfile.kit_token(5))
        self.assertEqual((t.generation, t.expires_at_ms, t.fetched_at_ms), (5, segfile.EPOCH_2100 + 5,
                                                                            segfile.EPOCH_2100 - 5))
        self.assertIs(t.state, wxshm.State.FRESH)
        self.assertEqual(t.state.label, "fresh")
        self.assertIs(t.stale, False)
        self.assertNotIn(t.token, repr(t))  # a credential never reaches a log line through repr

    def test_longest_and_shortest_tokens(self):
        for tok in ("x", "y" * 2048, "z" * 7, "w" * 9):
            self.put(token=tok)
            with open_handle("shop") as h:
                self.assertEqual(h.read().token, tok)

    def test_stale_is_returned(self):
        now = time.time_ns() // 1000000
        self.put(g=3, expires=now - 1000)
        with open_handle("shop") as h:
            t = h.read()
        self.assertTrue(t.stale)
        self.assertEqual(t.token, segfile.kit_token(3))
        self.assertEqual(t.expires_at_ms, now - 1000)

    def test_published_updates(self):
        path = self.put(g=1)
        w = segfile.Writer(path)
        with open_handle("shop") as h:
            for g in (2, 3, 40):
                w.publish(g)
                t = h.read()
                self.assertEqual((t.generation, t.token), (g, segfile.kit_token(g)))
        w.close()

    def test_nodata(self):
        self.put(g=0)
        with open_handle("shop") as h:
            self.assertRaisesErrno(wxshm.NoData, errno.ENODATA, h.read)

    def test_corrupt_length(self):
        self.put(g=2, length=2049)
        with open_handle("shop") as h:
            self.assertRaisesErrno(wxshm.BadSegment, errno.EBADMSG, h.read)

    def test_unknown_state_stays_an_int(self):
        self.put(state=9)
        with open_handle("shop") as h:
            t = h.read()
        self.assertEqual(t.state, 9)
        self.assertNotIsInstance(t.state, wxshm.State)

    def test_closed(self):
        self.put()
        h = open_handle("shop")
        h.close()
        e = self.assertRaisesErrno(wxshm.InvalidArgument, errno.EINVAL, h.read)
        self.assertIsInstance(e, ValueError)
        h.close()  # twice is fine

    def test_threads_share_a_handle(self):
        path = self.put(g=1)
        w = segfile.Writer(path)
        stop = threading.Event()
        bad = []

        def reader(h):
            while not stop.is_set():
                t = h.read()
                if t.token != segfile.kit_token(t.generation):
                    bad.append(t.generation)

        with open_handle("shop") as h:
            threads = [threading.Thread(target=reader, args=(h,)) for _ in range(4)]
            for t in threads:
                t.start()
            for g in range(2, 3000):
                w.publish(g)
            stop.set()
            for t in threads:
                t.join()
        w.close()
        self.assertEqual(bad, [])

    # --- names and directories ----------------------------------------------------------

    def test_names(self):
        for bad in ("", "a" * 65, "a.b.c.d", "a..c", "a.b.", "a/b", "../shop", "a.", ".a", "a." + "b" * 41, "sh op", "caf\u00e9",
                    "shop\n", "shop\0", b"shop", None, 7):
            self.assertRaisesErrno(wxshm.InvalidArgument, errno.EINVAL, open_handle, bad)
        # Valid names reach the file system: not found, not refused.
        for good in ("platform.wx0123456789abcdef", "a" * 64 + "." + "b" * 40, "A-b_9", "x.jsapi",
                     "platform.wx0123456789abcdef.jsapi", "a.b.c"):
            self.assertRaisesErrno(wxshm.NotFound, errno.ENOENT, open_handle, good)
        self.assertTrue(_layout.name_valid("a" * 64 + "." + "b" * 40))
        self.assertEqual(len("a" * 64 + "." + "b" * 40), 105)
        # An account's ticket: the suffix counts its inner dot, 40 bytes in all.
        self.assertTrue(_layout.name_valid("a." + "b" * 20 + "." + "c" * 19))
        self.assertFalse(_layout.name_valid("a." + "b" * 20 + "." + "c" * 20))

    def test_long_names_read(self):
        name = "platform.wx0123456789abcdef"
        self.put(name, g=4)
        with open_handle(name) as h:
            self.assertEqual(h.read().generation, 4)

    def test_missing(self):
        e = self.assertRaisesErrno(wxshm.NotFound, errno.ENOENT, open_handle, "shop")
        self.assertIsInstance(e, FileNotFoundError)
        self.assertEqual(e.item, "shop")
        self.assertRaisesErrno(wxshm.NotFound, errno.ENOENT, open_handle, "shop", dir=self.dir + "/nodir")

    def test_dir_from_env(self):
        os.environ["WXSHM_DIR"] = "relative/dir"
        self.assertEqual(_layout.segment_dir(), _layout.DEFAULT_DIR)
        os.environ["WXSHM_DIR"] = "/" + "d" * 255
        self.assertEqual(_layout.segment_dir(), _layout.DEFAULT_DIR)
        os.environ["WXSHM_DIR"] = "/" + "d" * 254
        self.assertEqual(_layout.segment_dir(), "/" + "d" * 254)
        os.environ["WXSHM_DIR"] = ""
        self.assertEqual(_layout.segment_dir(), _layout.DEFAULT_DIR)

    def test_dir_argument(self):
        other = scratch_dir()
        try:
            segfile.write(other, "mall", segfile.image(g=9))
            # WXSHM_DIR names self.dir; dir= wins, and the environment is left as it was.
            with open_handle("mall", dir=other) as h:
                self.assertEqual(h.read().generation, 9)
                self.assertEqual(h.dir, other)
            self.assertEqual(os.environ["WXSHM_DIR"], self.dir)
            self.assertRaisesErrno(wxshm.NotFound, errno.ENOENT, open_handle, "mall")
            self.assertRaisesErrno(wxshm.InvalidArgument, errno.EINVAL, open_handle, "mall", dir="rel")
        finally:
            remove(other)

    # --- the trust rule -----------------------------------------------------------------

    def test_group_writable_dir(self):
        self.put()
        os.chmod(self.dir, 0o771)
        e = self.assertRaisesErrno(wxshm.NotTrusted, errno.EPERM, open_handle, "shop")
        self.assertIsInstance(e, PermissionError)

    def test_symlink(self):
        path = self.put("real")
        os.symlink(path, os.path.join(self.dir, "shop"))
        self.assertRaisesErrno(wxshm.NotTrusted, errno.EPERM, open_handle, "shop")

    @unittest.skipUnless(IS_ROOT, "needs root to give files away")
    def test_file_of_another_owner(self):
        path = self.put()
        os.chown(path, 65534, -1)
        self.assertRaisesErrno(wxshm.NotTrusted, errno.EPERM, open_handle, "shop")

    @unittest.skipUnless(IS_ROOT, "needs root to give files away")
    def test_dir_of_an_ordinary_user(self):
        path = self.put()
        # uid 65534 is neither root, a system user (<= 999) nor us: someone made it before the agent.
        os.chown(path, 65534, -1)
        os.chown(self.dir, 65534, -1)
        self.assertRaisesErrno(wxshm.NotTrusted, errno.EPERM, open_handle, "shop")

    @unittest.skipUnless(IS_ROOT, "needs root to give files away")
    def test_dir_of_a_system_user(self):
        path = self.put()
        os.chown(path, 100, -1)
        os.chown(self.dir, 100, -1)
        with open_handle("shop") as h:
            self.assertEqual(h.owner, 100)
            self.assertEqual(h.read().generation, 1)

    def test_fifo_and_directory(self):
        os.mkfifo(os.path.join(self.dir, "shop"), 0o640)
        self.assertRaisesErrno(wxshm.BadSegment, errno.EBADMSG, open_handle, "shop")
        os.mkdir(os.path.join(self.dir, "mall"), 0o750)
        self.assertRaisesErrno(wxshm.BadSegment, errno.EBADMSG, open_handle, "mall")

    # --- what is in the file --------------------------------------------------------------

    def test_truncated(self):
        segfile.write(self.dir, "shop", segfile.image()[:4000])
        self.assertRaisesErrno(wxshm.BadSegment, errno.EBADMSG, open_handle, "shop")
        segfile.write(self.dir, "shop", b"WXSHM")
        self.assertRaisesErrno(wxshm.BadSegment, errno.EBADMSG, open_handle, "shop")

    def test_foreign(self):
        self.put(magic=0x1122334455667788)
        self.assertRaisesErrno(wxshm.BadSegment, errno.EBADMSG, open_handle, "shop")
        self.put(header=(192, 4416, 2112, 1024))
        self.assertRaisesErrno(wxshm.BadSegment, errno.EBADMSG, open_handle, "shop")
        self.put(header=(192, 100, 2112, 2048))
        self.assertRaisesErrno(wxshm.BadSegment, errno.EBADMSG, open_handle, "shop")

    def test_newer_version(self):
        self.put(version=2)
        self.assertRaisesErrno(wxshm.VersionNotSupported, errno.EPROTONOSUPPORT, open_handle, "shop")
        # A later layout may be larger; its first 64 bytes still say what it is.
        segfile.write(self.dir, "shop", segfile.image(version=2) + bytes(4096))
        self.assertRaisesErrno(wxshm.VersionNotSupported, errno.EPROTONOSUPPORT, open_handle, "shop")
        segfile.write(self.dir, "shop", segfile.image(version=1) + bytes(4096))
        self.assertRaisesErrno(wxshm.BadSegment, errno.EBADMSG, open_handle, "shop")

    def test_being_made(self):
        self.put(magic=0)
        self.assertRaisesErrno(wxshm.Busy, errno.EAGAIN, open_handle, "shop")

    def test_not_sized_yet(self):
        # 0 bytes: the agent's openat made it and has not sized it yet. Try again, not corrupt;
        # open's bounded retries end in Busy, not a hang.
        segfile.write(self.dir, "shop", b"")
        self.assertRaisesErrno(wxshm.Busy, errno.EAGAIN, open_handle, "shop")

    def test_being_made_then_done(self):
        path = self.put(magic=0)
        w = segfile.Writer(path)
        timer = threading.Timer(0.003, w.set_word, (0, segfile.MAGIC))
        timer.start()
        try:
            with open_handle("shop") as h:  # retried 20 times, 1 ms apart
                self.assertEqual(h.read().generation, 1)
        finally:
            timer.join()
            w.close()

    # --- retired and removed --------------------------------------------------------------

    def test_retired_is_reopened(self):
        path = self.put(g=3)
        with open_handle("shop") as h:
            self.assertEqual(h.read().generation, 3)
            old = segfile.Writer(path)
            # The agent makes the new object under the name, then retires the old one.
            os.rename(segfile.write(self.dir, "shop.new", segfile.image(g=7)), path)
            old.retire(1)
            self.assertEqual(h.read().generation, 7)
            self.assertEqual(h.read().generation, 7)
            old.close()

    def test_retired_and_gone(self):
        path = self.put(g=3)
        with open_handle("shop") as h:
            w = segfile.Writer(path)
            os.unlink(path)
            w.retire(1)
            self.assertRaisesErrno(wxshm.NotFound, errno.ENOENT, h.read)
            w.close()

    def test_retired_twice(self):
        path = self.put(g=3)
        with open_handle("shop") as h:
            w = segfile.Writer(path)
            os.rename(segfile.write(self.dir, "shop.new", segfile.image(g=4, retired=1)), path)
            w.retire(1)
            self.assertRaisesErrno(wxshm.Retired, errno.EIDRM, h.read)
            w.close()

    def test_removed(self):
        path = self.put(g=3)
        with open_handle("shop") as h:
            w = segfile.Writer(path)
            # Even with a segment under the name again, removed means removed: no re-open.
            os.rename(segfile.write(self.dir, "shop.new", segfile.image(g=4)), path)
            w.retire(2)
            self.assertRaisesErrno(wxshm.Removed, errno.ENXIO, h.read)
            self.assertRaisesErrno(wxshm.Removed, errno.ENXIO, h.read)
            w.close()

    def test_other_retired_values_reopen(self):
        path = self.put(g=3)
        with open_handle("shop") as h:
            w = segfile.Writer(path)
            os.rename(segfile.write(self.dir, "shop.new", segfile.image(g=5)), path)
            w.retire(77)
            self.assertEqual(h.read().generation, 5)
            w.close()


class ErrorTest(unittest.TestCase):
    def test_classes(self):
        pairs = [(wxshm.NotFound, FileNotFoundError), (wxshm.AccessDenied, PermissionError),
                 (wxshm.NotTrusted, PermissionError), (wxshm.Timeout, TimeoutError),
                 (wxshm.AgentStopping, ConnectionRefusedError), (wxshm.InvalidArgument, ValueError)]
        for cls, builtin in pairs:
            e = cls(item="shop")
            self.assertIsInstance(e, builtin)
            self.assertIsInstance(e, wxshm.Error)
            self.assertIsInstance(e, OSError)
        for cls in (wxshm.Removed, wxshm.BadSegment, wxshm.Busy, wxshm.RateLimited, wxshm.NoData):
            self.assertNotIsInstance(cls(), (FileNotFoundError, PermissionError, BlockingIOError))
        e = wxshm.RateLimited(item="shop", retry_after_ms=1500)
        self.assertEqual((e.errno, e.retry_after_ms), (errno.EAGAIN, 1500))
        e2 = pickle.loads(pickle.dumps(e))
        self.assertEqual((type(e2), e2.errno, e2.item, e2.retry_after_ms), (wxshm.RateLimited, errno.EAGAIN, "shop",
                                                                              1500))
        self.assertIn("shop", str(wxshm.NotFound(item="shop")))


if __name__ == "__main__":
    unittest.main()
