package shardpool

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConnSize keeps a Conn within the 160-byte size class: every dial
// allocates one, and under churn the bytes allocated per dial set how
// often the garbage collector runs.
func TestConnSize(t *testing.T) {
	assert.LessOrEqual(t, unsafe.Sizeof(Conn{}), uintptr(160))
}

// TestBoundedCtxSize keeps a dial's context within the 32-byte size class:
// every dial allocates one.
func TestBoundedCtxSize(t *testing.T) {
	assert.LessOrEqual(t, unsafe.Sizeof(boundedCtx{}), uintptr(32))
}

// TestConnLayout keeps the fields written while a connection is in use
// (by Put, SetUsedAt, state moves and Get's change of home) within bytes
// 32 to 127 of a Conn: Conns of the 160-byte class start 0 or 32 bytes
// into a cache line, so those bytes are on lines that hold no other Conn,
// and two Ps using neighbouring Conns do not share a line.
func TestConnLayout(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the 160-byte layout is a 64-bit one")
	}
	require.Equal(t, uintptr(160), unsafe.Sizeof(Conn{}), "the argument assumes the 160-byte class")
	var cn Conn
	for name, f := range map[string][2]uintptr{
		"idleAt": {unsafe.Offsetof(cn.idleAt), unsafe.Sizeof(cn.idleAt)},
		"usedAt": {unsafe.Offsetof(cn.usedAt), unsafe.Sizeof(cn.usedAt)},
		"tag":    {unsafe.Offsetof(cn.tag), unsafe.Sizeof(cn.tag)},
		"home":   {unsafe.Offsetof(cn.home), unsafe.Sizeof(cn.home)},
	} {
		assert.True(t, f[0] >= 32 && f[0]+f[1] <= 128, "%s at bytes %d to %d", name, f[0], f[0]+f[1])
	}
}
