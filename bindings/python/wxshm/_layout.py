"""The segment's layout (doc/segment.md, libwxshm/layout.h), the name grammar and the trust rule."""

import errno
import os
import re
import stat

MAGIC = 0x4745534D48535857          # b"WXSHMSEG", little endian
VERSION = 1
HEADER_SIZE = 192
SLOT_SIZE = 2112
TOKEN_CAPACITY = 2048
TOTAL_SIZE = 4416
SYSTEM_UID_MAX = 999
DIR_MAX = 256
READ_ATTEMPTS = 1024

# Byte offsets.
OFF_MAGIC = 0
OFF_VERSION = 8
OFF_HEADER_SIZE = 12
OFF_TOTAL_SIZE = 16
OFF_SLOT_SIZE = 24
OFF_TOKEN_CAPACITY = 28
OFF_HEARTBEAT_INTERVAL = 32
OFF_RETIRED = 40
OFF_SEQ = 64
OFF_AGENT_PID = 128
OFF_HEARTBEAT = 136
OFF_STATE = 144
OFF_LAST_ERRCODE = 152
OFF_LAST_ERROR_AT = 160
# Within a slot.
SLOT_LENGTH = 0
SLOT_GENERATION = 8
SLOT_EXPIRES = 16
SLOT_FETCHED = 24
SLOT_TOKEN = 64

RETIRED_LIVE = 0
RETIRED_REOPEN = 1
RETIRED_REMOVED = 2

DEFAULT_DIR = "/dev/shm/wxtokend"
DEFAULT_SOCKET = "/run/wxtokend/wxtokend.sock"

# Generations travel as JSON numbers: exact as doubles only below 2^53.
GENERATION_LIMIT = 1 << 53
TIMEOUT_DEFAULT_MS = 5000
TIMEOUT_MAX_MS = 60000
REPLY_SLACK_MS = 1000
LINE_MAX = 4096

# The suffix: 1..40 bytes, name characters with at most one more dot inside (an account's ticket).
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}(?:\.(?=[A-Za-z0-9_.-]{1,40}\Z)[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)?)?")


def name_valid(name):
    """An item: [A-Za-z0-9_-]{1,64}, optionally a dot and a suffix of 1..40 (one more dot inside allowed)."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def _secure():
    """Like secure_getenv: a setuid or setgid process takes no directions from its environment."""
    return os.getuid() == os.geteuid() and os.getgid() == os.getegid()


def _env(name):
    return os.environ.get(name) if _secure() else None


def dir_valid(path):
    return isinstance(path, str) and path.startswith("/") and len(path.encode("utf-8", "surrogateescape")) < DIR_MAX


def segment_dir():
    """$WXSHM_DIR if absolute and shorter than 256 bytes, else /dev/shm/wxtokend (as libwxshm)."""
    d = _env("WXSHM_DIR")
    return d if dir_valid(d) else DEFAULT_DIR


def socket_path():
    """$WXTOKEND_SOCKET if set and not empty, else /run/wxtokend/wxtokend.sock (as libwxshm)."""
    p = _env("WXTOKEND_SOCKET")
    return p if p else DEFAULT_SOCKET


def trusted(dir_st, file_st, euid):
    """0 or EPERM: the rule of doc/segment.md, "Opening: the trust rule", step 3."""
    if not stat.S_ISDIR(dir_st.st_mode) or dir_st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return errno.EPERM
    if file_st.st_uid != dir_st.st_uid:
        return errno.EPERM
    if dir_st.st_uid > SYSTEM_UID_MAX and dir_st.st_uid != euid:
        return errno.EPERM
    return 0
