"""Per-read cost: wxshm's read (pure, ctypes) vs a fresh str of the token's length vs the socket get; medians."""

import json
import os
import socket
import statistics
import sys
import time

import wxshm
from wxshm import _reader

# Many short rounds: on a shared machine a short round more often runs without being preempted.
ROUNDS = int(os.environ.get("WXPY_BENCH_ROUNDS", "41"))
ITEM = os.environ.get("WXPY_BENCH_ITEM", "shop")
BATCH_NS = 500000


def per_op_ns(fn, n):
    t0 = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return (time.perf_counter_ns() - t0) / n


def loop_overhead_ns(n):
    def nothing():
        return None
    return per_op_ns(nothing, n)


def main():
    handles = {"pure": wxshm.open(ITEM, reader="pure")} if _reader.X86_64 else {}
    handles["ctypes"] = wxshm.open(ITEM, reader="ctypes")
    length = len(handles["ctypes"].read().token)

    # The baseline: a new str of the token's length. bytes(n).decode() really builds one (a
    # zeroed buffer, then the decode); "x" * n is one memset into one allocation, listed too.
    def baseline():
        return bytes(length).decode("ascii")

    def repeat():
        return "x" * length

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(os.environ["WXTOKEND_SOCKET"])
    request = ('{"op":"get","app":"%s"}\n' % ITEM).encode()

    def socket_get():
        s.sendall(request)
        got = s.recv(8192)
        while not got.endswith(b"\n"):
            got += s.recv(8192)
        return json.loads(got)["token"]

    rows = [("read, pure Python (x86-64 only)", handles["pure"].read, 500)] if "pure" in handles else []
    rows += [("read, libwxshm via ctypes", handles["ctypes"].read, 500),
             ("baseline: bytes(n).decode()", baseline, 500),
             ("(for reference: 'x' * n)", repeat, 500),
             ("socket get, kept connection", socket_get, 5),
             ("(empty call: the loop itself)", lambda: None, 500)]
    # Each row's batch is sized to take about BATCH_NS: on a busy machine a preemption then
    # costs every row the same share, and the median keeps the rounds that ran undisturbed.
    sized = []
    for name, fn, n in rows:
        per_op_ns(fn, 100)  # warm up
        best = min(per_op_ns(fn, n) for _ in range(5))
        sized.append((name, fn, max(5, int(BATCH_NS / best))))
    times = {name: [] for name, _, _ in rows}
    for _ in range(ROUNDS):
        for name, fn, n in sized:  # interleaved: a busy moment of the machine hits every row alike
            times[name].append(per_op_ns(fn, n))
    med = {name: statistics.median(v) for name, v in times.items()}
    base = med["baseline: bytes(n).decode()"]
    sock = med["socket get, kept connection"]
    out = ["python3-wxshm: per-read cost, median of %d rounds (token of %d bytes, Python %s, %s)"
           % (ROUNDS, length, sys.version.split()[0], _reader.platform.machine()),
           "%-34s %10s %12s %12s %10s" % ("", "median ns", "x baseline", "socket / it", "min ns")]
    for name, _, _ in rows:
        out.append("%-34s %10.0f %12.1f %12.1f %10.0f" % (name, med[name], med[name] / base, sock / med[name],
                                                          min(times[name])))
    out.append("Every figure includes the Python call of the timing loop (the last row). Load average: %.1f"
               % os.getloadavg()[0])
    for h in handles.values():
        h.close()
    s.close()
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    results = os.environ.get("WXRESULTS")
    if results:
        os.makedirs(results, exist_ok=True)
        with open(os.path.join(results, "bench-binding-python.txt"), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
