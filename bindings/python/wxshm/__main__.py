"""python3 -m wxshm: print an item's token (get) or ask the agent for a new one (refresh)."""

import argparse
import json
import sys
import time

from . import Error, open as wxshm_open
from ._base import State

EX_USAGE = 64


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write("%s: %s\n" % (self.prog, message))
        sys.exit(EX_USAGE)


def _parser():
    p = _Parser(prog="python3 -m wxshm",
                description="Read the WeChat access token wxtokend publishes, or ask it for a refresh.",
                epilog="Exit status: 0 success, 1 an error (said on standard error), 64 a usage error. "
                       "Environment: WXSHM_DIR, WXTOKEND_SOCKET, WXSHM_PY_READER (pure, ctypes, auto), "
                       "WXSHM_LIBRARY.")
    p.add_argument("--reader", choices=("auto", "pure", "ctypes"), help="how to read (default: auto)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    g = sub.add_parser("get", help="print the token of APP (an expired one is not printed)")
    g.add_argument("--json", action="store_true", help="print app, token, generation, expires_at, state as JSON")
    g.add_argument("app", metavar="APP")
    r = sub.add_parser("refresh", help="tell the agent WeChat refused GENERATION of APP; print the new generation")
    r.add_argument("--timeout", type=int, default=5000, metavar="MS", help="wait at most MS ms (default 5000)")
    r.add_argument("app", metavar="APP")
    r.add_argument("generation", type=int, metavar="GENERATION")
    for s in (g, r):
        s.error = p.error
    return p


def _state_name(state):
    return state.label if isinstance(state, State) else "unknown"


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        with wxshm_open(args.app, reader=args.reader) as h:
            if args.command == "refresh":
                print(h.refresh(args.generation, args.timeout))
                return 0
            t = h.read()
    except Error as e:
        sys.stderr.write("wxshm: %s\n" % e)
        return 1
    if t.stale:
        # Printed nowhere: a script would hand an expired token on.
        sys.stderr.write("wxshm: %s: the token expired %d s ago (state %s): the agent is down or failing: "
                         "wxtokenctl status %s says why\n"
                         % (args.app, (time.time_ns() // 1000000 - t.expires_at_ms) // 1000,
                            _state_name(t.state), args.app))
        return 1
    if args.json:
        print(json.dumps({"app": args.app, "token": t.token, "generation": t.generation,
                          "expires_at": t.expires_at_ms, "state": _state_name(t.state)},
                         separators=(",", ":")))
    else:
        print(t.token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
