// layout.go: the segment's byte layout (version 1), as doc/segment.md and libwxshm/layout.h give it.

package wxshm

const (
	layoutMagic      = 0x4745534d48535857 // "WXSHMSEG" in little endian
	layoutVersion    = 1
	layoutSize       = 4416 // total_size: the file must be exactly this long
	layoutHeaderSize = 192  // offset of slot 0
	layoutSlotSize   = 2112
	tokenCapacity    = 2048 // token bytes a slot holds; the longest token

	offMagic             = 0
	offVersion           = 8  // u32
	offHeaderSize        = 12 // u32
	offTotalSize         = 16
	offSlotSize          = 24 // u32
	offTokenCapacity     = 28 // u32
	offHeartbeatInterval = 32
	offRetired           = 40
	offSeq               = 64
	offAgentPID          = 128
	offHeartbeat         = 136
	offState             = 144
	offLastErrcode       = 152
	offLastErrorAt       = 160
	offSlot0             = layoutHeaderSize

	// within a slot
	offLength     = 0
	offGeneration = 8
	offExpires    = 16
	offFetched    = 24
	offToken      = 64

	// the first 64 bytes keep their meaning in every version: enough to tell a newer layout
	layoutStableHead = 64

	// retired word values
	retiredLive    = 0
	retiredReopen  = 1 // re-open the name (-EIDRM)
	retiredRemoved = 2 // the item was removed from the config and its file unlinked (-ENXIO)

	// latch attempts per round, as libwxshm; then a few more rounds before reporting busy
	readAttempts = 1024
	readRounds   = 4

	// open retries while the agent is still creating the segment (0 bytes, or magic 0)
	openAttempts = 20

	// owners the trust rule accepts besides the reader itself: root and system users
	systemUIDMax = 999

	nameMax   = 64 // [A-Za-z0-9_-]{1,64}
	suffixMax = 40 // optional "." and [A-Za-z0-9_-]{1,40}
	dirMax    = 256

	defaultDir    = "/dev/shm/wxtokend"
	defaultSocket = "/run/wxtokend/wxtokend.sock"

	// O_PATH: package syscall has it on arm64 but not on amd64; the value is the same on both
	// (and on every Linux port Go has, the generic 010000000).
	oPath = 0x200000
)
