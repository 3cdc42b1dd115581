package shardpool

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
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
