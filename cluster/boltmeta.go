package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// bbolt's on-disk meta page, as documented in its page.go and db.go: a
// 16-byte page header (id, flags, count, overflow), then magic, version,
// page size, flags, root bucket (root pgid, sequence), freelist pgid, high
// water mark pgid, txid, and an FNV-64a checksum of the fields before it.
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	boltMetaFlag     = 0x04
	boltPageHeader   = 16
	boltMetaSize     = 64 // up to and including the checksum
	boltChecksumOffs = 56
)

type boltMeta struct {
	pageSize uint32
	pgid     uint64
	txid     uint64
}

// checkBoltMeta validates the two meta pages of a bbolt file before bbolt
// opens it, and that the file is as long as the valid meta says. bbolt
// itself tolerates one torn meta page (that is what the second is for), so
// one valid meta is enough; none, or a file shorter than its high water
// mark, is damage.
func checkBoltMeta(path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	m0, err0 := readBoltMeta(f, 0, 0)
	pageSize := uint32(os.Getpagesize())
	if err0 == nil {
		pageSize = m0.pageSize
	}
	m1, err1 := readBoltMeta(f, 1, pageSize)
	var best *boltMeta
	switch {
	case err0 == nil && err1 == nil:
		best = &m0
		if m1.txid > m0.txid {
			best = &m1
		}
	case err0 == nil:
		best = &m0
	case err1 == nil:
		best = &m1
	default:
		return fmt.Errorf("both meta pages invalid: %v; %v", err0, err1)
	}
	if need := int64(best.pgid) * int64(best.pageSize); size < need {
		return fmt.Errorf("file is %d bytes, its meta page says at least %d (truncated)", size, need)
	}
	return nil
}

func readBoltMeta(r io.ReaderAt, id uint64, pageSize uint32) (boltMeta, error) {
	buf := make([]byte, boltPageHeader+boltMetaSize)
	if _, err := r.ReadAt(buf, int64(id)*int64(pageSize)); err != nil {
		return boltMeta{}, fmt.Errorf("meta %d: %w", id, err)
	}
	le := binary.LittleEndian
	if got := le.Uint64(buf[0:]); got != id {
		return boltMeta{}, fmt.Errorf("meta %d: page header says page %d", id, got)
	}
	if flags := le.Uint16(buf[8:]); flags != boltMetaFlag {
		return boltMeta{}, fmt.Errorf("meta %d: not a meta page (flags %#x)", id, flags)
	}
	m := buf[boltPageHeader:]
	if le.Uint32(m[0:]) != boltMagic || le.Uint32(m[4:]) != boltVersion {
		return boltMeta{}, fmt.Errorf("meta %d: bad magic or version", id)
	}
	h := fnv.New64a()
	h.Write(m[:boltChecksumOffs])
	if h.Sum64() != le.Uint64(m[boltChecksumOffs:]) {
		return boltMeta{}, fmt.Errorf("meta %d: checksum mismatch", id)
	}
	ps := le.Uint32(m[8:])
	if ps < 512 || ps&(ps-1) != 0 {
		return boltMeta{}, errors.New("bad page size")
	}
	return boltMeta{pageSize: ps, pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}, nil
}
