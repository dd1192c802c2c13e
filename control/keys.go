package control

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// KeyPrefix begins every virtual key, so that a leaked one is recognisable
// (and secret scanners can be taught it).
const KeyPrefix = "ck-"

// secretChars is how many random base62 characters follow the prefix:
// 43 carry 256 bits.
const secretChars = 43

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewSecret returns a new virtual key: "ck-" and 43 random base62
// characters from crypto/rand.
func NewSecret() string {
	b := make([]byte, 0, len(KeyPrefix)+secretChars)
	b = append(b, KeyPrefix...)
	var buf [64]byte
	for len(b) < cap(b) {
		_, _ = rand.Read(buf[:]) // never fails (crypto/rand panics instead)
		for _, c := range buf {
			// Rejection sampling: 248 = 4·62, so every character is as likely.
			if c < 248 && len(b) < cap(b) {
				b = append(b, base62[c%62])
			}
		}
	}
	return string(b)
}

// Digest is the SHA-256 of a key, in hex: all a store ever keeps of it.
func Digest(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Key is one virtual key: who it is for, what it may do, and the digests
// of the secrets that present it.
type Key struct {
	Name       string    `json:"name"`
	User       string    `json:"user,omitempty"` // the calls' user; "" leaves it to the caller
	Team       string    `json:"team,omitempty"`
	DailyUSD   float64   `json:"daily_usd,omitempty"`
	MonthlyUSD float64   `json:"monthly_usd,omitempty"`
	RPM        int64     `json:"rpm,omitempty"` // requests per minute
	TPM        int64     `json:"tpm,omitempty"` // tokens per minute
	Models     []string  `json:"models,omitempty"`
	Gateways   []string  `json:"gateways,omitempty"`
	Created    time.Time `json:"created"`
	Expires    time.Time `json:"expires,omitzero"`
	Revoked    time.Time `json:"revoked,omitzero"`
	// Secrets are the digests that present the key: the current one first,
	// then rotated-out ones until the end of their grace period.
	Secrets []Secret `json:"secrets,omitempty"`
}

// Secret is the digest of one of a key's secrets.
type Secret struct {
	SHA256 string    `json:"sha256"`
	Until  time.Time `json:"until,omitzero"` // a rotated-out secret's last moment
}

// Public is the key without its digests: what lists, the audit log and
// the admin API show.
func (k Key) Public() Key {
	k.Secrets = nil
	return k
}

// Check validates what a key says.
func (k *Key) Check() error {
	if !validName(k.Name) {
		return fmt.Errorf("key name %q: expected letters, digits, '-', '_' and '.', at most 64", k.Name)
	}
	for _, f := range []float64{k.DailyUSD, k.MonthlyUSD} {
		if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e9 {
			return errors.New("a spend limit is an amount of USD from 0 to 1e9")
		}
	}
	if k.RPM < 0 || k.TPM < 0 {
		return errors.New("rpm and tpm cannot be negative")
	}
	for _, p := range k.Models {
		if p == "" || strings.ContainsAny(p, " \t") {
			return fmt.Errorf("model pattern %q: expected a model name, '*' anywhere (gpt-4o*, anthropic/*)", p)
		}
	}
	for _, g := range k.Gateways {
		if !validName(g) || strings.Contains(g, ".") {
			return fmt.Errorf("gateway %q: expected a gateway id", g)
		}
	}
	if k.User != "" && !validName(k.User) {
		return fmt.Errorf("user %q: expected letters, digits, '-', '_' and '.', at most 64", k.User)
	}
	if k.Team != "" && (!validName(k.Team) || strings.Contains(k.Team, ".")) {
		return fmt.Errorf("team %q: expected letters, digits, '-' and '_', at most 64", k.Team)
	}
	return nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// Status says whether the key can be used at now: "" when it can,
// else why not ("revoked", "expired").
func (k *Key) Status(now time.Time) string {
	switch {
	case !k.Revoked.IsZero() && !now.Before(k.Revoked):
		return "revoked"
	case !k.Expires.IsZero() && !now.Before(k.Expires):
		return "expired"
	}
	return ""
}

// AllowsGateway reports whether the key may be used through gateway id.
func (k *Key) AllowsGateway(id string) bool {
	return len(k.Gateways) == 0 || slices.Contains(k.Gateways, id)
}

// AllowsModel reports whether the key may call provider's model. A
// pattern whose first segment is a provider ("anthropic/*") matches
// provider/model; a bare one ("gpt-4o*", "@cf/meta/*") matches the model
// with or without its provider prefix. '*' matches any run of characters,
// slashes included. No patterns: every model.
func (k *Key) AllowsModel(provider, model string) bool {
	if len(k.Models) == 0 {
		return true
	}
	full := provider + "/" + model
	for _, p := range k.Models {
		if glob(p, full) {
			return true
		}
		if first, _, _ := strings.Cut(p, "/"); !isProvider(first) && glob(p, model) {
			return true
		}
	}
	return false
}

// AllowsName reports whether a pattern of the key names a model name as
// the caller wrote it (an alias, a split): the operator who declared the
// name chose what it calls.
func (k *Key) AllowsName(name string) bool {
	if len(k.Models) == 0 {
		return true
	}
	for _, p := range k.Models {
		if glob(p, name) {
			return true
		}
	}
	return false
}

func isProvider(name string) bool {
	_, ok := conductor.LookupProvider(name)
	return ok
}

// glob matches s against pattern, '*' standing for any run of characters.
func glob(pattern, s string) bool {
	// The classic two-pointer match: on a mismatch, let the last '*' take
	// one more character.
	p, i, star, mark := 0, 0, -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// ParseLifetime reads a key's lifetime or a rotation's grace: a duration
// in Go syntax ("90m", "12h") or in days ("30d"); "0" is none.
func ParseLifetime(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseFloat(n, 64)
		if err != nil || !(days > 0) || days > 36500 {
			return 0, fmt.Errorf("%q: expected a duration such as 90m, 12h or 30d", s)
		}
		return time.Duration(days * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q: expected a duration such as 90m, 12h or 30d", s)
	}
	return d, nil
}
