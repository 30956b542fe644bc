// conformance_test.go: the conformance kit (tests/conformance) against this reader; run by test.sh, which sets WXCONF_*.

package wxshm

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// kitEnv is the path test.sh gives in name, or a skip (test.sh counts a skip as a failure).
func kitEnv(t *testing.T, name string) string {
	p := os.Getenv(name)
	if p == "" {
		t.Skipf("%s not set: run bindings/go/test.sh", name)
	}
	return p
}

// startWriter runs wxconf-writer on a new directory until the test ends, once it is ready.
func startWriter(t *testing.T, item string) string {
	writer := kitEnv(t, "WXCONF_WRITER")
	dir := filepath.Join(t.TempDir(), "shm")
	cmd := exec.Command(writer, dir, item, "120")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err = cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("wxconf-writer at SIGTERM: %v", err)
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready ") {
		t.Fatalf("wxconf-writer: %q %v", line, err)
	}
	return dir
}

type kitCounts struct {
	reads, busy, torn, generations uint64
}

// kitLoop reads with read until enough successful reads and generations were seen (or
// until torn > 0, if stopAtTorn), checking each against the kit's formula, within limit.
func kitLoop(t *testing.T, read func() (Token, error), minReads, minGens uint64, stopAtTorn bool, limit time.Duration) kitCounts {
	var c kitCounts
	var last uint64
	deadline := time.Now().Add(limit)
	for n := 0; ; n++ {
		if n%4096 == 0 && time.Now().After(deadline) {
			return c
		}
		tok, err := read()
		if errors.Is(err, ErrBusy) {
			c.busy++
			continue
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		c.reads++
		if !confCheck(&tok) {
			c.torn++
			if stopAtTorn {
				return c
			}
		}
		if tok.Generation != last {
			last = tok.Generation
			c.generations++
		}
		if !stopAtTorn && c.reads >= minReads && c.generations >= minGens {
			return c
		}
	}
}

// The kit's conformance run: >= 1,000,000 successful reads seeing >= 1,000 generations, none torn.
func TestKitConformance(t *testing.T) {
	dir := startWriter(t, "conf")
	h, err := OpenDir(dir, "conf")
	if err != nil {
		t.Fatal(err)
	}
	c := kitLoop(t, h.Read, 1000000, 1000, false, 90*time.Second)
	t.Logf("conformance: %d reads, %d generations, %d torn, %d busy", c.reads, c.generations, c.torn, c.busy)
	if c.torn != 0 || c.reads < 1000000 || c.generations < 1000 {
		t.Fatalf("want >= 1000000 reads, >= 1000 generations, 0 torn")
	}
}

// latchNoRecheck is the latch without its second load of seq: the negative control, which
// the same checks must catch.
func (m *mapping) latchNoRecheck() Token {
	seq := m.word(offSeq)
	slot := uintptr(offSlot0) + uintptr(seq&1)*layoutSlotSize
	length := m.word(slot + offLength)
	if length > tokenCapacity {
		length = tokenCapacity // torn beyond reason: still a torn read, and nothing past the slot
	}
	buf := make([]byte, (length+7)/8*8)
	for i := 0; i < len(buf)/8; i++ {
		*(*uint64)(unsafe.Pointer(&buf[i*8])) = m.word(slot + offToken + uintptr(i)*8)
	}
	return Token{Token: string(buf[:length]), Generation: m.word(slot + offGeneration),
		ExpiresAtMs: int64(m.word(slot + offExpires)), FetchedAtMs: int64(m.word(slot + offFetched))}
}

func TestKitNegativeControl(t *testing.T) {
	dir := startWriter(t, "control")
	h, err := OpenDir(dir, "control")
	if err != nil {
		t.Fatal(err)
	}
	m := h.m.Load()
	c := kitLoop(t, func() (Token, error) { return m.latchNoRecheck(), nil }, 0, 0, true, 30*time.Second)
	t.Logf("negative control: %d reads, %d generations, %d torn", c.reads, c.generations, c.torn)
	if c.torn == 0 {
		t.Fatal("the reader without the re-check was not caught in 30 s: the control failed")
	}
}

// Every sample of wxconf-samples gives what its EXPECTED line says.
func TestKitSamples(t *testing.T) {
	samples := kitEnv(t, "WXCONF_SAMPLES")
	dir := filepath.Join(t.TempDir(), "samples")
	if out, err := exec.Command(samples, dir).CombinedOutput(); err != nil {
		t.Fatalf("wxconf-samples: %v %s", err, out)
	}
	expected, err := os.ReadFile(filepath.Join(dir, "EXPECTED"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(expected)), "\n")
	if len(lines) < 20 {
		t.Fatalf("only %d samples", len(lines))
	}
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) != 2 {
			t.Fatalf("EXPECTED line %q", line)
		}
		item, want := f[0], f[1]
		got := sampleResult(dir, item)
		if got != want {
			t.Errorf("%s: got %s, want %s", item, got, want)
		}
	}
}

// sampleResult is open then read of one sample, as EXPECTED spells results.
func sampleResult(dir, item string) string {
	var e *Error
	h, err := OpenDir(dir, item)
	if err == nil {
		var tok Token
		tok, err = h.Read()
		if err == nil {
			// token(1), with the kit's times unless stale
			if tok.Generation != 1 || tok.Token != string(confToken(1, nil)) {
				return "wrong-token"
			}
			if tok.Stale {
				// the kit's stale sample: expired in 2001, fetched two hours before
				if tok.ExpiresAtMs != 1000000000000 || tok.FetchedAtMs != 1000000000000-7200000 {
					return "wrong-times"
				}
				return "stale"
			}
			if !confCheck(&tok) {
				return "wrong-times"
			}
			return "ok"
		}
	}
	if !errors.As(err, &e) {
		return err.Error()
	}
	return errnoName(e.Errno)
}
