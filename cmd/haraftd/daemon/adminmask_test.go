package daemon

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMaskSecretKept: the secret behind masked session keys is made once
// per data dir, kept private and read back unchanged; a damaged one is
// refused, not replaced (masks would silently change).
func TestMaskSecretKept(t *testing.T) {
	dir := t.TempDir()
	first, err := loadMaskSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, maskSecretFile))
	if err != nil || st.Mode().Perm() != 0o600 || len(first) != 32 {
		t.Fatalf("secret file %v %v, %d bytes", st, err, len(first))
	}
	for _, tc := range []struct {
		name    string
		content []byte // nil: leave the file as is
		want    string // error substring; "" = the first secret again
	}{
		{"read back", nil, ""},
		{"truncated", first[:10], "10 bytes, want 32"},
		{"empty", []byte{}, "0 bytes, want 32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.content != nil {
				if err := os.WriteFile(filepath.Join(dir, maskSecretFile), tc.content, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := loadMaskSecret(dir)
			switch {
			case tc.want == "" && (err != nil || !bytes.Equal(got, first)):
				t.Fatalf("got %x, %v; want the first secret", got, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if other, err := loadMaskSecret(t.TempDir()); err != nil || bytes.Equal(other, first) {
		t.Fatalf("another data dir: %x, %v", other, err)
	}
}
