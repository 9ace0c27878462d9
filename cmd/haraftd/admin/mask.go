package admin

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/haraft/haraft/fsm"
)

// MaskPrefix starts every masked session key.
const MaskPrefix = "h:"

// maskHexLen is how many hex digits of the HMAC a masked key keeps: 48
// bits, enough to tell a million sessions apart (two collide with odds of
// about 1 in 500) and to recognise one seen before.
const maskHexLen = 12

// MaskSecretLen is the length of a mask secret.
const MaskSecretLen = 32

// keyMasker hides session keys from callers who may not see them.
//
// A session key is a bearer credential: whoever sends a user's JSESSIONID
// is that user to the application. A read token (a dashboard, a
// monitoring job) needs to count and follow sessions, not to take them
// over, so it sees h:<first 12 hex digits of HMAC-SHA256(secret, key)>:
// stable (the same session shows the same mask on this node, across
// restarts), and not reversible. A plain hash would be: a session key may
// be guessable (in tcp mode it is a client's address, 2^32 of them), and
// without the secret nobody can compute the mask of a guess.
//
// The same secret also seals page tokens (AES-GCM), which would otherwise
// carry the last key of a page in clear.
type keyMasker struct {
	secret []byte
	aead   cipher.AEAD
}

// newKeyMasker returns a masker over secret (MaskSecretLen bytes); nil: a
// random one, good for this process only.
func newKeyMasker(secret []byte) (*keyMasker, error) {
	if secret == nil {
		secret = make([]byte, MaskSecretLen)
		if _, err := rand.Read(secret); err != nil {
			return nil, fmt.Errorf("admin: mask secret: %w", err)
		}
	}
	if len(secret) < 16 {
		return nil, fmt.Errorf("admin: mask secret of %d bytes: want at least 16", len(secret))
	}
	block, err := aes.NewCipher(derive(secret, "page-token"))
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	return &keyMasker{secret: derive(secret, "session-key-mask"), aead: aead}, nil
}

// derive is a key for one purpose, so that the mask and the page-token
// key never share a key.
func derive(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// mask returns the masked form of a session key.
func (m *keyMasker) mask(key string) string {
	h := hmac.New(sha256.New, m.secret)
	h.Write([]byte(key))
	return MaskPrefix + hex.EncodeToString(h.Sum(nil))[:maskHexLen]
}

var errBadPageToken = errors.New("bad page_token: pass next_page_token from the previous page unchanged")

// sealPageToken makes the opaque token of the position after k.
func (m *keyMasker) sealPageToken(k fsm.SessionKey) string {
	nonce := make([]byte, m.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(fmt.Sprintf("admin: crypto/rand: %v", err)) // crypto/rand does not fail on Linux
	}
	out := m.aead.Seal(nonce, nonce, []byte(k.Backend+"\x00"+k.Key), nil)
	return base64.RawURLEncoding.EncodeToString(out)
}

// openPageToken reads a token of sealPageToken; "" is the first page.
func (m *keyMasker) openPageToken(t string) (fsm.SessionKey, error) {
	if t == "" {
		return fsm.SessionKey{}, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil || len(b) < m.aead.NonceSize() {
		return fsm.SessionKey{}, errBadPageToken
	}
	plain, err := m.aead.Open(nil, b[:m.aead.NonceSize()], b[m.aead.NonceSize():], nil)
	if err != nil {
		return fsm.SessionKey{}, errBadPageToken
	}
	backend, key, ok := strings.Cut(string(plain), "\x00")
	if !ok {
		return fsm.SessionKey{}, errBadPageToken
	}
	return fsm.SessionKey{Backend: backend, Key: key}, nil
}
