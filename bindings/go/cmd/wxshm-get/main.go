// wxshm-get prints the current token of an item, read from its segment (no cgo: a static binary).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"wxtokend.dev/wxshm"
)

func main() {
	dir := flag.String("dir", "", "segment directory (default $WXSHM_DIR or /dev/shm/wxtokend)")
	refresh := flag.Bool("refresh", false, "first ask the agent to replace the current token (as after WeChat's 40001)")
	verbose := flag.Bool("v", false, "print generation, state and expiry to stderr")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: wxshm-get [-dir DIR] [-refresh] [-v] ITEM\nPrint ITEM's token (an app, or app.jsapi).\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(64)
	}
	var opts []wxshm.Option
	if *dir != "" {
		opts = append(opts, wxshm.WithDir(*dir))
	}
	h, err := wxshm.Open(flag.Arg(0), opts...)
	if err != nil {
		fail(err)
	}
	defer h.Close()
	t, err := h.Read()
	if err == nil && *refresh {
		if _, err = h.Refresh(t.Generation, 10*time.Second); err == nil {
			t, err = h.Read()
		}
	}
	if err != nil {
		fail(err)
	}
	if *verbose {
		fmt.Fprintf(os.Stderr, "generation %d, state %s, expires %s, agent alive %v\n", t.Generation, t.State,
			t.ExpiresAt().Format(time.RFC3339), t.AgentAlive)
	}
	if t.Stale {
		fmt.Fprintln(os.Stderr, "wxshm-get: warning: the token has expired (is the agent running?)")
	}
	fmt.Println(t.Token)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "wxshm-get:", err)
	var e *wxshm.Error
	if errors.As(err, &e) && e.Errno != 0 {
		os.Exit(1)
	}
	os.Exit(2)
}
