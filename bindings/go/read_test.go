// read_test.go: Open and Read against segments the tests write: fields, trust rule, errors, retirement, races.

package wxshm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestValidName(t *testing.T) {
	long := strings.Repeat("a", 64)
	for _, name := range []string{"shop", "a", "A-b_9", long, "shop.jsapi", "platform.wx0123456789abcdef",
		"platform.wx0123456789abcdef.jsapi", "a.b.c", long + "." + strings.Repeat("x", 40)} {
		if !ValidName(name) {
			t.Errorf("%q refused", name)
		}
	}
	for _, name := range []string{"", ".", "shop.", ".jsapi", "a.b.c.d", "a..c", "a.b.", long + "a", "shop." + strings.Repeat("x", 41),
		"../x", "a/b", "a b", "é", "shop\x00", "-"[:0]} {
		if ValidName(name) {
			t.Errorf("%q taken", name)
		}
	}
}

func wantErr(t *testing.T, err error, sentinel error, errno syscall.Errno) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want an *Error with %v", err, sentinel)
	}
	if !errors.Is(err, sentinel) || !errors.Is(err, errno) || e.Errno != errno {
		t.Fatalf("got %v (errno %d), want %v (%s)", err, int(e.Errno), sentinel, errnoName(errno))
	}
}

func TestReadFields(t *testing.T) {
	dir := testDir(t)
	s := newTestSeg(t, dir, "shop")
	now := time.Now().UnixMilli()
	s.publish([]byte("TOKEN-one"), 7, now+7200000, now-5)
	s.store(offState, uint64(StateFresh))
	s.store(offAgentPID, uint64(os.Getpid()))
	s.store(offHeartbeat, uint64(now))
	s.store(offLastErrcode, uint64(40001))
	s.store(offLastErrorAt, uint64(now-100))

	h, err := OpenDir(dir, "shop")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	tok, err := h.Read()
	if err != nil {
		t.Fatal(err)
	}
	want := Token{Token: "TOKEN-one", Generation: 7, ExpiresAtMs: now + 7200000, FetchedAtMs: now - 5, State: StateFresh,
		HeartbeatMs: now, AgentPID: os.Getpid(), AgentAlive: true, LastErrcode: 40001, LastErrorAtMs: now - 100}
	if tok != want {
		t.Fatalf("read %+v, want %+v", tok, want)
	}
	if tok.State.String() != "fresh" || State(9).String() != "unknown" || StateConfigError.String() != "config_error" {
		t.Fatal("state names")
	}
	if strings.Contains(tok.String(), "TOKEN") || strings.Contains(fmtV(tok), "TOKEN") {
		t.Fatal("a printed Token shows the token")
	}

	// A heartbeat older than 3 intervals (1000 ms in these segments): not alive.
	s.store(offHeartbeat, uint64(now-3500))
	if tok, _ = h.Read(); tok.AgentAlive {
		t.Fatal("alive with an old heartbeat")
	}
	// Stale: returned anyway, flagged.
	s.publish([]byte("OLD"), 8, now-1, now-7200000)
	tok, err = h.Read()
	if err != nil || !tok.Stale || tok.Token != "OLD" || tok.Generation != 8 {
		t.Fatalf("stale read: %+v %v", tok, err)
	}
	// Every length up to the capacity, and the longest.
	for _, n := range []int{1, 7, 8, 9, 15, 16, 17, 2047, 2048} {
		b := []byte(strings.Repeat("x", n-1) + "Z")
		s.publish(b, uint64(100+n), now+1000000, now)
		if tok, err = h.Read(); err != nil || tok.Token != string(b) {
			t.Fatalf("length %d: %q %v", n, tok.Token, err)
		}
	}
}

func fmtV(t Token) string { return strings.Join([]string{t.GoString()}, "") }

func TestNoDataAndCorrupt(t *testing.T) {
	dir := testDir(t)
	s := newTestSeg(t, dir, "shop")
	h, err := OpenDir(dir, "shop")
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.Read()
	wantErr(t, err, ErrNoData, syscall.ENODATA)
	s.store(offSlot0+offLength, 2049)
	s.store(offSlot0+offGeneration, 1)
	_, err = h.Read()
	wantErr(t, err, ErrBadSegment, syscall.EBADMSG)
}

func TestOpenErrors(t *testing.T) {
	dir := testDir(t)
	newTestSeg(t, dir, "good")
	newTestSegSize(t, dir, "short", 2000, layoutMagic, 1)
	newTestSegSize(t, dir, "long", 8192, layoutMagic, 1)
	newTestSegSize(t, dir, "newer", 8192, layoutMagic, 2)
	newTestSegSize(t, dir, "newsame", layoutSize, layoutMagic, 2)
	newTestSegSize(t, dir, "foreign", layoutSize, 0x1122334455667788, 1)
	newTestSegSize(t, dir, "creating", layoutSize, 0, 1)
	newTestSegSize(t, dir, "empty", 0, 0, 0)
	odd := newTestSeg(t, dir, "geometry")
	odd.store(offTotalSize, layoutSize+8)
	if err := os.Symlink(filepath.Join(dir, "good"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "subdir"), 0o750); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		item     string
		sentinel error
		errno    syscall.Errno
	}{
		{"missing", ErrNotFound, syscall.ENOENT},
		{"short", ErrBadSegment, syscall.EBADMSG},
		{"long", ErrBadSegment, syscall.EBADMSG},
		{"newer", ErrVersion, syscall.EPROTONOSUPPORT},
		{"newsame", ErrVersion, syscall.EPROTONOSUPPORT},
		{"foreign", ErrBadSegment, syscall.EBADMSG},
		{"creating", ErrBusy, syscall.EAGAIN},
		{"empty", ErrBusy, syscall.EAGAIN}, // made by the agent's openat, not sized yet: try again (doc/segment.md)
		{"geometry", ErrBadSegment, syscall.EBADMSG},
		{"link", ErrNotTrusted, syscall.EPERM},
		{"fifo", ErrBadSegment, syscall.EBADMSG},
		{"subdir", ErrBadSegment, syscall.EBADMSG},
		{"bad/name", ErrInvalid, syscall.EINVAL},
		{"..", ErrInvalid, syscall.EINVAL},
	} {
		h, err := OpenDir(dir, c.item)
		if h != nil {
			t.Fatalf("%s: opened", c.item)
		}
		t.Run(c.item, func(t *testing.T) { wantErr(t, err, c.sentinel, c.errno) })
	}
	_, err := OpenDir("relative/dir", "good")
	wantErr(t, err, ErrInvalid, syscall.EINVAL)
	_, err = OpenDir(filepath.Join(dir, "nodir"), "good")
	wantErr(t, err, ErrNotFound, syscall.ENOENT)

	// A directory others may write is not trusted, whatever is in it.
	if err = os.Chmod(dir, 0o771); err != nil {
		t.Fatal(err)
	}
	_, err = OpenDir(dir, "good")
	wantErr(t, err, ErrNotTrusted, syscall.EPERM)
	os.Chmod(dir, 0o751)
	if _, err = OpenDir(dir, "good"); err != nil {
		t.Fatal(err)
	}
}

func TestEnvironment(t *testing.T) {
	dir := testDir(t)
	newTestSeg(t, dir, "shop").publish([]byte("T"), 1, time.Now().UnixMilli()+100000, 0)
	t.Setenv("WXSHM_DIR", dir)
	t.Setenv("WXTOKEND_SOCKET", "/x/sock")
	h, err := Open("shop")
	if err != nil || h.Dir() != dir || h.socket != "/x/sock" || h.Item() != "shop" {
		t.Fatalf("%v %+v", err, h)
	}
	// Not absolute, or too long: ignored.
	for _, bad := range []string{"relative", "/" + strings.Repeat("d", 255)} {
		t.Setenv("WXSHM_DIR", bad)
		if DefaultDir() != "/dev/shm/wxtokend" {
			t.Fatalf("%q taken", bad)
		}
	}
	t.Setenv("WXTOKEND_SOCKET", "")
	if DefaultSocket() != "/run/wxtokend/wxtokend.sock" {
		t.Fatal("default socket")
	}
}

// The owner rule, which needs other users: only as root (test.sh runs it so).
func TestOwnerRule(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make files of other users")
	}
	dir := testDir(t)
	newTestSeg(t, dir, "mine")
	newTestSeg(t, dir, "theirs")
	if err := os.Chown(filepath.Join(dir, "theirs"), 1, 1); err != nil {
		t.Fatal(err)
	}
	_, err := OpenDir(dir, "theirs")
	wantErr(t, err, ErrNotTrusted, syscall.EPERM)
	// A directory of a system user (uid <= 999) with its files: trusted.
	for _, n := range []string{"", "mine", "theirs"} {
		os.Chown(filepath.Join(dir, n), 1, 1)
	}
	if _, err = OpenDir(dir, "mine"); err != nil {
		t.Fatal(err)
	}
	// Of an ordinary user who is not the reader: not trusted.
	for _, n := range []string{"", "mine"} {
		os.Chown(filepath.Join(dir, n), 12345, 12345)
	}
	_, err = OpenDir(dir, "mine")
	wantErr(t, err, ErrNotTrusted, syscall.EPERM)
}

func TestRetiredReopen(t *testing.T) {
	dir := testDir(t)
	old := newTestSeg(t, dir, "shop")
	far := time.Now().UnixMilli() + 1000000
	old.publish([]byte("first"), 1, far, 0)
	h, err := OpenDir(dir, "shop")
	if err != nil {
		t.Fatal(err)
	}
	// The agent's restart: the old object retired and unlinked, a new one under the name.
	old.store(offRetired, retiredReopen)
	os.Remove(old.path)
	cur := newTestSeg(t, dir, "shop")
	cur.publish([]byte("second"), 2, far, 0)
	tok, err := h.Read()
	if err != nil || tok.Token != "second" || tok.Generation != 2 {
		t.Fatalf("after retirement: %+v %v", tok, err)
	}
	// Retired again, and no new object: the re-open's error.
	cur.store(offRetired, retiredReopen)
	os.Remove(cur.path)
	_, err = h.Read()
	wantErr(t, err, ErrNotFound, syscall.ENOENT)
	// Retired, and the name holds a retired object too: EIDRM, after one re-open.
	again := newTestSeg(t, dir, "shop")
	again.store(offRetired, 7) // any other non-zero value means re-open as 1 does
	_, err = h.Read()
	wantErr(t, err, ErrRetired, syscall.EIDRM)
	// Removed from the config: never re-opened, even with a good object under the name.
	h2, _ := OpenDir(dir, "shop")
	again.store(offRetired, retiredRemoved)
	os.Remove(again.path)
	newTestSeg(t, dir, "shop").publish([]byte("third"), 3, far, 0)
	_, err = h2.Read()
	wantErr(t, err, ErrRemoved, syscall.ENXIO)
	if h3, err := OpenDir(dir, "shop"); err != nil {
		t.Fatal(err)
	} else if tok, err = h3.Read(); err != nil || tok.Token != "third" {
		t.Fatalf("a new Open after removal: %+v %v", tok, err)
	}
}

// Close while others read: they get the token or ErrClosed, never a fault; the mappings are
// released once unused.
func TestCloseAndMappings(t *testing.T) {
	dir := testDir(t)
	newTestSeg(t, dir, "shop").publish([]byte("tok"), 1, time.Now().UnixMilli()+1000000, 0)
	h, err := OpenDir(dir, "shop")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var closed atomic.Int64
	var started sync.WaitGroup
	started.Add(4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				if n == 1 {
					started.Done() // one read done: this reader is in its loop
				}
				tok, err := h.Read()
				if n == 0 && err != nil {
					t.Errorf("first read: %v", err)
					started.Done()
					return
				}
				if err != nil {
					if !errors.Is(err, ErrClosed) || !errors.Is(err, syscall.EBADF) {
						t.Errorf("read: %v", err)
					}
					closed.Add(1)
					return
				}
				if tok.Token != "tok" {
					t.Errorf("read %q", tok.Token)
					return
				}
			}
		}()
	}
	started.Wait() // every reader is in its loop
	h.Close()
	wg.Wait()
	if closed.Load() != 4 {
		t.Fatal("a reader did not see the close")
	}
	if _, err = h.RefreshContext(context.Background(), 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("refresh after close: %v", err)
	}

	before := mapsOf(t, dir)
	for i := 0; i < 300; i++ {
		h, err := OpenDir(dir, "shop")
		if err != nil {
			t.Fatal(err)
		}
		h.Close()
	}
	// Each collection finds some unused and queues their finalizers, which run on their own
	// goroutine: wait (bounded) for the count to fall.
	for i := 0; i < 100 && mapsOf(t, dir) > before+20; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if after := mapsOf(t, dir); after > before+20 {
		t.Fatalf("%d mappings of the segment after 300 open/close, %d before", after, before)
	}
}

func mapsOf(t *testing.T, dir string) int {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), dir)
}

// Goroutines reading while a writer publishes as fast as it can: every read is exactly one
// generation's token. Under -race this also shows Read's own data is not raced on.
func TestConcurrentReads(t *testing.T) {
	dir := testDir(t)
	s := newTestSeg(t, dir, "shop")
	s.publishConf(1, nil)
	h, err := OpenDir(dir, "shop")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var writer sync.WaitGroup
	writer.Add(1)
	go func() {
		defer writer.Done()
		var buf []byte
		for g := uint64(2); ; g++ {
			select {
			case <-stop:
				return
			default:
			}
			buf = s.publishConf(g, buf)
		}
	}()
	var readers sync.WaitGroup
	var reads, busy atomic.Int64
	for i := 0; i < 4; i++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for n := 0; n < 20000; n++ {
				tok, err := h.Read()
				if errors.Is(err, ErrBusy) {
					busy.Add(1)
					continue
				}
				if err != nil {
					t.Errorf("read: %v", err)
					return
				}
				if !confCheck(&tok) {
					t.Errorf("torn: generation %d, %d bytes", tok.Generation, len(tok.Token))
					return
				}
				reads.Add(1)
			}
		}()
	}
	readers.Wait()
	close(stop)
	writer.Wait()
	t.Logf("%d reads, %d busy", reads.Load(), busy.Load())
}

// A system call's EIO is not the agent's "upstream_failed"; errors match their errno too.
func TestErrorMeanings(t *testing.T) {
	err := error(newError("open", "shop", syscall.EIO))
	if errors.Is(err, ErrUpstream) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("a system call's EIO: %v", err)
	}
	err = newError("open", "shop", syscall.EMFILE)
	if !errors.Is(err, syscall.EMFILE) || errors.Unwrap(err) != syscall.EMFILE {
		t.Fatalf("an unexpected errno: %v", err)
	}
	if !strings.Contains(err.Error(), `wxshm open "shop"`) {
		t.Fatalf("message %q", err.Error())
	}
}
