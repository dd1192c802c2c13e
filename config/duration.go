package config

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in TOML either as a string in Go
// syntax ("30s", "1h30m") or as a number of seconds (3600, as wrangler's
// cache_ttl is written).
//
// It is a struct, not a named int64, so that go-toml hands integers to
// UnmarshalText instead of storing them as nanoseconds.
type Duration struct {
	time.Duration `toml:"-"`
}

// Seconds builds a Duration of n seconds.
func Seconds(n int64) Duration { return Duration{time.Duration(n) * time.Second} }

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return d.Duration }

// MarshalText writes d in Go syntax, so a config round-trips.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// MarshalJSON writes d in Go syntax, as a JSON string.
func (d Duration) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(d.String())), nil }

// UnmarshalJSON accepts what the config file does: a string in Go syntax
// ("30s") or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := string(b)
	if u, err := strconv.Unquote(s); err == nil {
		s = u
	}
	return d.UnmarshalText([]byte(s))
}

// errDuration is the message for every malformed duration; the value itself
// is not repeated, in case someone pasted something private there.
var errDuration = errors.New(`expected a duration such as "30s" or "1h", or a number of seconds`)

// UnmarshalText accepts what go-toml hands a text unmarshaler: the content of
// a string, or the literal of an integer or float.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errDuration
	}
	// Integers in TOML syntax: 3600, 3_600, 0x10. Base 0 follows Go's literal
	// rules, which accept the same underscores and prefixes.
	if n, err := strconv.ParseInt(s, 0, 64); err == nil {
		if n < 0 {
			return 0, errors.New("a duration cannot be negative")
		}
		if n > math.MaxInt64/int64(time.Second) {
			return 0, errors.New("duration too large")
		}
		return time.Duration(n) * time.Second, nil
	}
	if f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64); err == nil {
		if f < 0 || math.IsNaN(f) {
			return 0, errors.New("a duration cannot be negative")
		}
		if f*float64(time.Second) >= math.MaxInt64 {
			return 0, errors.New("duration too large")
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, errDuration
	}
	if v < 0 {
		return 0, errors.New("a duration cannot be negative")
	}
	return v, nil
}
