"""Segment files made by hand for the unit tests (the layout of doc/segment.md), and the kit's token rule."""

import mmap
import os
import struct

MAGIC = 0x4745534D48535857
ALPHA = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_ALPHA_LONG = ALPHA * 34  # 2176 characters: any window of up to 2048 from offset < 64
EPOCH_2100 = 4102444800000


def kit_length(g):
    return 1 + (g * 7919) % 2048


def kit_token(g):
    """The conformance kit's token of generation g (contract: "The conformance kit")."""
    start = (g * 17) % 64
    return _ALPHA_LONG[start:start + kit_length(g)]


def image(g=1, token=None, expires=None, fetched=None, magic=MAGIC, version=1, retired=0, state=1,
          header=(192, 4416, 2112, 2048), length=None, pid=1, heartbeat_ms=0):
    """The bytes of a version-1 segment whose two slots both hold generation g."""
    b = bytearray(4416)
    header_size, total, slot_size, capacity = header
    struct.pack_into("<QIIQIIQQ", b, 0, magic, version, header_size, total, slot_size, capacity, 1000, retired)
    struct.pack_into("<Q", b, 64, 2)
    struct.pack_into("<qqqqq", b, 128, pid, heartbeat_ms, state, 0, 0)
    tok = (kit_token(g) if token is None else token).encode("ascii")
    for s in (0, 1):
        w = 192 + 2112 * s
        struct.pack_into("<QQqq", b, w, len(tok) if length is None else length, g,
                         EPOCH_2100 + g if expires is None else expires,
                         EPOCH_2100 - g if fetched is None else fetched)
        b[w + 64:w + 64 + min(len(tok), 2048)] = tok[:2048]
    return bytes(b)


def write(directory, item, data, mode=0o640):
    path = os.path.join(directory, item)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


class Writer:
    """A segment file changed in place, as the agent does (for retirement and publishing in tests)."""

    def __init__(self, path):
        fd = os.open(path, os.O_RDWR)
        try:
            self.m = mmap.mmap(fd, 4416)
        finally:
            os.close(fd)

    def set_word(self, offset, value):
        struct.pack_into("<Q", self.m, offset, value)

    def retire(self, how=1):
        self.set_word(40, how)

    def publish(self, g, token=None, expires=None):
        """The latch's publish: the unused slot, seq + 1, the other slot, seq + 1."""
        tok = (kit_token(g) if token is None else token).encode("ascii")
        seq = struct.unpack_from("<Q", self.m, 64)[0]
        for step in (1, 2):
            w = 192 + 2112 * ((seq + 1) & 1)
            struct.pack_into("<QQqq", self.m, w, len(tok), g, EPOCH_2100 + g if expires is None else expires,
                             EPOCH_2100 - g)
            self.m[w + 64:w + 64 + len(tok)] = tok
            seq += 1
            self.set_word(64, seq)

    def close(self):
        self.m.close()
