// segment_test.go: a segment writer for the tests, in Go, with the agent's latch (libwxshm/writer.c).

package wxshm

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"unsafe"
)

type testSeg struct {
	path string
	data []byte
	base unsafe.Pointer
}

func (s *testSeg) ptr(off uintptr) *uint64     { return (*uint64)(unsafe.Add(s.base, off)) }
func (s *testSeg) store(off uintptr, v uint64) { atomic.StoreUint64(s.ptr(off), v) }
func (s *testSeg) load(off uintptr) uint64     { return atomic.LoadUint64(s.ptr(off)) }

// testDir makes a directory the trust rule accepts (0751, the caller's own).
func testDir(t testing.TB) string {
	dir := filepath.Join(t.TempDir(), "shm")
	if err := os.Mkdir(dir, 0o751); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o751); err != nil { // past the umask
		t.Fatal(err)
	}
	return dir
}

// newTestSeg makes dir/item of size bytes with a version 1 header, magic last.
func newTestSegSize(t testing.TB, dir, item string, size int64, magic uint64, version uint32) *testSeg {
	path := filepath.Join(dir, item)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err = f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if size == 0 {
		return &testSeg{path: path}
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(data) })
	s := &testSeg{path: path, data: data, base: unsafe.Pointer(&data[0])}
	if size >= 64 {
		binary.LittleEndian.PutUint32(data[offVersion:], version)
	}
	if size >= layoutSize {
		binary.LittleEndian.PutUint32(data[offHeaderSize:], layoutHeaderSize)
		binary.LittleEndian.PutUint64(data[offTotalSize:], layoutSize)
		binary.LittleEndian.PutUint32(data[offSlotSize:], layoutSlotSize)
		binary.LittleEndian.PutUint32(data[offTokenCapacity:], tokenCapacity)
		binary.LittleEndian.PutUint64(data[offHeartbeatInterval:], 1000)
	}
	if size >= 64 {
		s.store(offMagic, magic)
	}
	return s
}

func newTestSeg(t testing.TB, dir, item string) *testSeg {
	return newTestSegSize(t, dir, item, layoutSize, layoutMagic, layoutVersion)
}

func (s *testSeg) writeSlot(i uint64, token []byte, gen uint64, expires, fetched int64) {
	slot := uintptr(offSlot0) + uintptr(i&1)*layoutSlotSize
	s.store(slot+offLength, uint64(len(token)))
	s.store(slot+offGeneration, gen)
	s.store(slot+offExpires, uint64(expires))
	s.store(slot+offFetched, uint64(fetched))
	var w [8]byte
	for off := 0; off < len(token); off += 8 {
		w = [8]byte{}
		copy(w[:], token[off:])
		s.store(slot+offToken+uintptr(off), binary.LittleEndian.Uint64(w[:]))
	}
}

// publish is the latch's write: the slot readers are not using, move them there, then the other.
func (s *testSeg) publish(token []byte, gen uint64, expires, fetched int64) {
	seq := s.load(offSeq)
	s.writeSlot(seq+1, token, gen, expires, fetched)
	s.store(offSeq, seq+1)
	s.writeSlot(seq, token, gen, expires, fetched)
	s.store(offSeq, seq+2)
}

// The conformance kit's token of generation g (tests/conformance, the lead's contract).
const confAlpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
const confEpochMs = 4102444800000

func confLength(g uint64) int { return 1 + int((g*7919)%2048) }

func confToken(g uint64, buf []byte) []byte {
	n := confLength(g)
	buf = buf[:0]
	for i := 0; i < n; i++ {
		buf = append(buf, confAlpha[(g*17+uint64(i))%64])
	}
	return buf
}

// confCheck says whether a read is exactly generation g's token (a torn copy cannot be).
func confCheck(t *Token) bool {
	g := t.Generation
	if t.ExpiresAtMs != confEpochMs+int64(g) || t.FetchedAtMs != confEpochMs-int64(g) {
		return false
	}
	if len(t.Token) != confLength(g) {
		return false
	}
	for i := 0; i < len(t.Token); i++ {
		if t.Token[i] != confAlpha[(g*17+uint64(i))%64] {
			return false
		}
	}
	return true
}

func (s *testSeg) publishConf(g uint64, buf []byte) []byte {
	buf = confToken(g, buf)
	s.publish(buf, g, confEpochMs+int64(g), confEpochMs-int64(g))
	return buf
}
