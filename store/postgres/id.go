package postgres

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// newID returns a random row id.
func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("postgres store: row id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
