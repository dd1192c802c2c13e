package conductor

import "time"

// Backoff is the delay before retry n (1 for the first retry) under a
// backoff shape, before any jitter: "exponential" (the default)
// initial·2^(n-1), "linear" initial·n, "fixed" or "constant" (Cloudflare's
// cf-aig-backoff word) initial; capped at maxDelay. The ensemble engine and
// the gateway's retries both wait by it.
func Backoff(shape string, n int, initial, maxDelay time.Duration) time.Duration {
	if n < 1 {
		n = 1
	}
	var d time.Duration
	switch shape {
	case "fixed", "constant":
		d = initial
	case "linear":
		if time.Duration(n) > maxDelay/max(initial, 1) {
			return maxDelay
		}
		d = initial * time.Duration(n)
	default: // exponential
		if n > 62 || initial<<(n-1) <= 0 || initial<<(n-1) > maxDelay {
			return maxDelay
		}
		d = initial << (n - 1)
	}
	return min(d, maxDelay)
}
