package conductor

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrorClass names what went wrong with a call, independent of provider.
type ErrorClass string

// Error classes. Retryable ones: Timeout, RateLimited, Server, Network,
// StreamCut. The others are the caller's to fix.
const (
	ClassBadRequest   ErrorClass = "bad_request"    // 400, 422
	ClassAuth         ErrorClass = "auth"           // 401, 403
	ClassNotFound     ErrorClass = "not_found"      // 404: unknown model or path
	ClassTimeout      ErrorClass = "timeout"        // 408, 504, a deadline of ours
	ClassTooLarge     ErrorClass = "too_large"      // 413
	ClassRateLimited  ErrorClass = "rate_limited"   // 429 from the provider
	ClassQuota        ErrorClass = "quota"          // 429 insufficient_quota: retrying cannot help
	ClassServer       ErrorClass = "server"         // 5xx
	ClassNetwork      ErrorClass = "network"        // connection refused or reset
	ClassMalformed    ErrorClass = "malformed"      // an answer we could not parse
	ClassStreamCut    ErrorClass = "stream_cut"     // a stream that ended without its terminator
	ClassLimited      ErrorClass = "limited"        // refused by our own rate limit
	ClassBudget       ErrorClass = "budget"         // refused by our own spend limit
	ClassConfig       ErrorClass = "config"         // missing key, account id, unknown route
	ClassCanceled     ErrorClass = "canceled"       // the caller went away
	ClassProviderFail ErrorClass = "provider_error" // an error the provider reported in a 200 answer
)

// Error is the one error type every call returns for a failure: it carries
// the provider's own status, message and request id, and whether trying
// again may help.
type Error struct {
	Provider   string
	Class      ErrorClass
	Status     int    // HTTP status; 0 when none was received
	Code       string // the provider's error code or type, when it sent one
	Message    string // the provider's own message, or ours
	RequestID  string
	Retryable  bool
	RetryAfter time.Duration // from Retry-After (or the provider's equivalent); 0 when absent
	Err        error         // the underlying cause, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Provider != "" {
		b.WriteString(e.Provider)
		b.WriteString(": ")
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, "%d ", e.Status)
	}
	b.WriteString(string(e.Class))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request id ")
		b.WriteString(e.RequestID)
		b.WriteString(")")
	}
	if e.Err != nil && e.Message == "" {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// CallerMessage is what a caller of the gateway reads in an error body:
// the message (or its cause), named by the provider when the provider
// failed or refused, and the provider's request id — without the class and
// status, which the body's type and the HTTP status already carry, and
// without a provider prefix on the gateway's own refusals (budgets, rate
// limits, configuration).
func (e *Error) CallerMessage() string {
	text := e.Message
	if text == "" && e.Err != nil {
		text = e.Err.Error()
	}
	if text == "" {
		text = strings.ReplaceAll(string(e.Class), "_", " ")
	}
	var b strings.Builder
	switch e.Class {
	case ClassLimited, ClassBudget, ClassConfig, ClassCanceled:
	default:
		if e.Provider != "" {
			b.WriteString(e.Provider)
			b.WriteString(": ")
		}
	}
	b.WriteString(text)
	if e.RequestID != "" {
		b.WriteString(" (request id ")
		b.WriteString(e.RequestID)
		b.WriteString(")")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// AsError returns err as an *Error when it is or wraps one.
func AsError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// IsRetryable reports whether trying the same call again may succeed.
// Errors that are not *Error (a canceled context, say) are not retryable.
func IsRetryable(err error) bool {
	e, ok := AsError(err)
	return ok && e.Retryable
}

// ClassForStatus maps an HTTP status from a provider to an error class and
// whether it is retryable. 400, 401 and 403 are never retried.
func ClassForStatus(status int) (ErrorClass, bool) {
	switch {
	case status == 401 || status == 403:
		return ClassAuth, false
	case status == 404:
		return ClassNotFound, false
	case status == 408:
		return ClassTimeout, true
	case status == 413:
		return ClassTooLarge, false
	case status == 429:
		return ClassRateLimited, true
	case status == 504:
		return ClassTimeout, true
	case status >= 500:
		return ClassServer, true
	case status >= 400:
		return ClassBadRequest, false
	}
	return ClassMalformed, false
}

// attemptsError is a failed call that made more than one upstream attempt.
type attemptsError struct {
	err error
	n   int
}

func (e *attemptsError) Error() string { return e.err.Error() }
func (e *attemptsError) Unwrap() error { return e.err }

// WithAttempts wraps err, the failure of a call that made n upstream
// attempts (a gateway's own retries), so that whoever made the call can
// count them (AttemptsOf). The error reads and unwraps as err; n < 2 or a
// nil err gives err itself.
func WithAttempts(err error, n int) error {
	if err == nil || n < 2 {
		return err
	}
	return &attemptsError{err: err, n: n}
}

// AttemptsOf returns how many upstream attempts a failed call made, as
// WithAttempts recorded it; 1 when nothing recorded more.
func AttemptsOf(err error) int {
	var ae *attemptsError
	if errors.As(err, &ae) {
		return ae.n
	}
	return 1
}
