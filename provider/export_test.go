package provider

// Exported for the tests of package provider_test, which import the
// format packages and so cannot be package provider.

const DrainTimeout = drainTimeout

var ErrorFromStatus = errorFromStatus

var RetryAfter = retryAfter
var SplitWords = splitWords

const UnsupportedParam = unsupportedParam
const UnsupportedValue = unsupportedValue

// ParseErrorBody returns the type and message parseErrorBody reads.
func ParseErrorBody(body []byte) (typ, message string) {
	eb := parseErrorBody(body)
	return eb.typ, eb.message
}

// SetMax lowers the reader's event bound.
func SetMax(r *SSEReader, n int) { r.max = n }
