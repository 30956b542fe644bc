// open.go: opening an item's segment under the trust rule, and the read-only mapping it gives.

package wxshm

import (
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// mapping is one read-only mapping of one segment file. It is unmapped by the garbage
// collector once nothing uses it: a Read in progress holds it, so neither Close nor the
// re-open of a retired segment can pull the memory from under another goroutine.
type mapping struct {
	data     []byte         // as syscall.Mmap returned it, for Munmap
	base     unsafe.Pointer // &data[0]: every word is read through it with sync/atomic
	owner    uint32         // uid of the file's owner: the agent that may answer refreshes
	interval int64          // heartbeat_interval_ms, immutable once magic is set
}

func (m *mapping) word(off uintptr) uint64 {
	return atomic.LoadUint64((*uint64)(unsafe.Add(m.base, off)))
}

func (m *mapping) word32(off uintptr) uint32 {
	return atomic.LoadUint32((*uint32)(unsafe.Add(m.base, off)))
}

func unmap(m *mapping) {
	_ = syscall.Munmap(m.data)
}

func newMapping(data []byte, owner uint32) *mapping {
	m := &mapping{data: data, base: unsafe.Pointer(&data[0]), owner: owner}
	runtime.SetFinalizer(m, unmap)
	return m
}

func errnoOf(err error) syscall.Errno {
	if e, ok := err.(syscall.Errno); ok {
		return e
	}
	return syscall.EIO
}

func isDir(st *syscall.Stat_t) bool { return st.Mode&syscall.S_IFMT == syscall.S_IFDIR }
func isReg(st *syscall.Stat_t) bool { return st.Mode&syscall.S_IFMT == syscall.S_IFREG }

// trusted is the trust rule: a directory nobody else can write, a file of its owner, and
// that owner root, a system user or the reader itself.
func trusted(dir, file *syscall.Stat_t, euid uint32) syscall.Errno {
	if !isDir(dir) || dir.Mode&(syscall.S_IWGRP|syscall.S_IWOTH) != 0 {
		return syscall.EPERM
	}
	if file.Uid != dir.Uid {
		return syscall.EPERM
	}
	if dir.Uid > systemUIDMax && dir.Uid != euid {
		return syscall.EPERM
	}
	return 0
}

// otherLayout tells a newer layout version (its first 64 bytes keep their meaning) from
// anything else of the wrong size.
func otherLayout(fd int, size int64) syscall.Errno {
	if size < layoutStableHead {
		return syscall.EBADMSG
	}
	data, err := syscall.Mmap(fd, 0, layoutStableHead, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return syscall.EBADMSG
	}
	defer syscall.Munmap(data)
	p := unsafe.Pointer(&data[0])
	if atomic.LoadUint64((*uint64)(p)) == layoutMagic &&
		atomic.LoadUint32((*uint32)(unsafe.Add(p, offVersion))) != layoutVersion {
		return syscall.EPROTONOSUPPORT
	}
	return syscall.EBADMSG
}

// openTrusted opens dir/item and checks it before anything is mapped; it returns the
// descriptor and the file's owner.
func openTrusted(dir, item string) (int, uint32, syscall.Errno) {
	var dirSt, st syscall.Stat_t

	// O_PATH: readers may traverse the directory (0751) without listing it.
	dfd, err := syscall.Open(dir, oPath|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1, 0, errnoOf(err)
	}
	if err = syscall.Fstat(dfd, &dirSt); err != nil {
		syscall.Close(dfd)
		return -1, 0, errnoOf(err)
	}
	fd, err := syscall.Openat(dfd, item, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	syscall.Close(dfd)
	if err != nil {
		if err == syscall.ELOOP {
			return -1, 0, syscall.EPERM // a symbolic link is never followed out of the directory
		}
		return -1, 0, errnoOf(err)
	}
	var errno syscall.Errno
	if err = syscall.Fstat(fd, &st); err != nil {
		errno = errnoOf(err)
	} else if errno = trusted(&dirSt, &st, uint32(syscall.Geteuid())); errno != 0 {
	} else if !isReg(&st) {
		errno = syscall.EBADMSG
	} else if st.Size == 0 {
		errno = syscall.EAGAIN // the agent's openat made it, it has not sized it yet (retried by the caller)
	} else if st.Size != layoutSize {
		errno = otherLayout(fd, st.Size)
	}
	if errno != 0 {
		syscall.Close(fd)
		return -1, 0, errno
	}
	return fd, st.Uid, 0
}

// validate checks the header of a fresh mapping: magic 0 means the agent is still making
// the segment (EAGAIN, retried by the caller).
func validate(m *mapping) syscall.Errno {
	switch m.word(offMagic) { // sequentially consistent, so at least the acquire the writer's release pairs with
	case layoutMagic:
	case 0:
		return syscall.EAGAIN
	default:
		return syscall.EBADMSG
	}
	if m.word32(offVersion) != layoutVersion {
		return syscall.EPROTONOSUPPORT
	}
	if m.word32(offHeaderSize) != layoutHeaderSize || m.word32(offSlotSize) != layoutSlotSize ||
		m.word32(offTokenCapacity) != tokenCapacity {
		return syscall.EBADMSG
	}
	if total := m.word(offTotalSize); total < layoutHeaderSize+2*layoutSlotSize || total > layoutSize {
		return syscall.EBADMSG
	}
	m.interval = int64(m.word(offHeartbeatInterval))
	return 0
}

func openOnce(dir, item string) (*mapping, syscall.Errno) {
	fd, owner, errno := openTrusted(dir, item)
	if errno != 0 {
		return nil, errno
	}
	data, err := syscall.Mmap(fd, 0, layoutSize, syscall.PROT_READ, syscall.MAP_SHARED)
	// The mapping keeps the file alive; the descriptor is no longer needed.
	syscall.Close(fd)
	if err != nil {
		return nil, errnoOf(err)
	}
	m := newMapping(data, owner)
	if errno = validate(m); errno != 0 {
		runtime.SetFinalizer(m, nil)
		unmap(m)
		return nil, errno
	}
	return m, 0
}

// openMapping opens and maps dir/item, waiting a little while the agent is creating it.
func openMapping(dir, item string) (*mapping, syscall.Errno) {
	for attempt := 1; ; attempt++ {
		m, errno := openOnce(dir, item)
		if errno != syscall.EAGAIN || attempt >= openAttempts {
			return m, errno
		}
		time.Sleep(time.Millisecond)
	}
}
