package daemon

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/haraft/haraft/cmd/haraftd/admin"
)

// maskSecretFile holds the secret that keys this node's masks of session
// keys (cmd/haraftd/admin/mask.go), in the data dir, so a session shows
// the same mask across restarts.
const maskSecretFile = "admin-mask.key"

// loadMaskSecret reads the node's mask secret, making one on first start.
func loadMaskSecret(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, maskSecretFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil && len(b) == admin.MaskSecretLen:
		return b, nil
	case err == nil:
		return nil, fmt.Errorf("%s: %d bytes, want %d (delete it to make a new one: masks of session keys change)", path, len(b), admin.MaskSecretLen)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("mask secret: %w", err)
	}
	b = make([]byte, admin.MaskSecretLen)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("mask secret: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return nil, fmt.Errorf("mask secret: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("mask secret: %w", err)
	}
	return b, nil
}
