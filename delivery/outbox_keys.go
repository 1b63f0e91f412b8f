package delivery

import (
	"encoding/binary"
	"math"
	"time"
)

// seqKey is a big-endian sequence number, so keys sort in enqueue order.
func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

// timeKey encodes t as big-endian unix nanoseconds, clamped to what fits,
// so byte order is time order.
func timeKey(t time.Time) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], uint64(unixNanos(t)))
	return k[:]
}

func keyTime(k []byte) time.Time {
	n := binary.BigEndian.Uint64(k[:8])
	if n > math.MaxInt64 {
		n = math.MaxInt64
	}
	return time.Unix(0, int64(n))
}

func unixNanos(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, 0)):
		return 0
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// dueKey orders the due index by next attempt, then by enqueue order.
func dueKey(next time.Time, seq uint64) []byte {
	k := make([]byte, 16)
	copy(k, timeKey(next))
	binary.BigEndian.PutUint64(k[8:], seq)
	return k
}
