package provider

// Exported for the tests of package provider_test, which import the
// format packages and so cannot be package provider.

type CFMessage = cfMessage

var DecodeOpenAIEmbedResponse = decodeOpenAIEmbedResponse
var DecodeOpenAIRequestJSON = decodeOpenAIRequestJSON
var DecodeOpenAIProviderResponse = decodeOpenAIResponse

const DrainTimeout = drainTimeout

var ErrorFromStatus = errorFromStatus

type OpenAIAnswer = openAIAnswer
type OpenAIChunk = openAIChunk
type OpenAIEmbedAnswer = openAIEmbedAnswer
type OpenAIMessage = openAIMessage
type OpenAIPart = openAIPart
type OpenAITool = openAITool
type OpenAIToolCall = openAIToolCall

var RetryAfter = retryAfter
var ScanOpenAIRequest = scanOpenAIRequest
var SplitWords = splitWords

type TextContent = textContent

const UnsupportedParam = unsupportedParam
const UnsupportedValue = unsupportedValue

type WorkersAI = workersAI
type WorkersAIChunk = workersAIChunk
type WorkersAIEmbedEnvelope = workersAIEmbedEnvelope
type WorkersAIEnvelope = workersAIEnvelope

// ParseErrorBody returns the type and message parseErrorBody reads.
func ParseErrorBody(body []byte) (typ, message string) {
	eb := parseErrorBody(body)
	return eb.typ, eb.message
}

// SetMax lowers the reader's event bound.
func SetMax(r *SSEReader, n int) { r.max = n }

// ModelURL is the Workers AI adapter's URL for a model.
func (w *workersAI) ModelURL(model string) (string, error) { return w.modelURL(model) }
