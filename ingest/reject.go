// Package ingest turns what stations send into validated readings on the
// READINGS stream, and everything it cannot accept into QUARANTINE with a
// reason. Sources (MQTT now; HJ 212, NB-IoT push and CoAP later) hand their
// payloads to a Pipeline and ack the device only after JetStream has the data.
package ingest

import "fmt"

// Code classifies why input was refused. Codes are metric label values and
// the Ql-Code header of quarantined messages.
type Code string

// The reasons input is refused.
const (
	CodeEmpty           Code = "empty"
	CodeTooLarge        Code = "too_large"
	CodeBadTopic        Code = "bad_topic"
	CodeUnknownFormat   Code = "unknown_format"
	CodeMalformed       Code = "malformed"
	CodeSchema          Code = "schema"
	CodeUnknownStation  Code = "unknown_station"
	CodeUnknownParam    Code = "unknown_parameter"
	CodeWrongMedium     Code = "wrong_medium"
	CodeNotNumber       Code = "not_a_number"
	CodeNonFinite       Code = "non_finite"
	CodeOutOfRange      Code = "out_of_range"
	CodeBadUnit         Code = "bad_unit"
	CodeBadFlag         Code = "bad_flag"
	CodeBadTimestamp    Code = "bad_timestamp"
	CodeFutureTimestamp Code = "future_timestamp"
	CodeTooOld          Code = "too_old"
	CodeNoValues        Code = "no_values"
	CodeBadBatch        Code = "too_many_elements"
)

// Reject is one refused payload, batch element or value, with the bytes to
// keep in quarantine.
type Reject struct {
	Code    Code
	Reason  string // names what is wrong, e.g. `value of "ph" is 15.2, outside 0..14`
	Field   string // parameter or JSON field, when there is one
	Station string // station from the topic, when known
	Index   int    // element index in a batch payload; -1 for the whole payload
	Raw     []byte // the original bytes (the whole payload or the element)
}

func (r Reject) Error() string {
	if r.Index >= 0 {
		return fmt.Sprintf("%s (element %d)", r.Reason, r.Index)
	}
	return r.Reason
}

func rejectf(code Code, field string, format string, args ...any) *Reject {
	return &Reject{Code: code, Field: field, Index: -1, Reason: fmt.Sprintf(format, args...)}
}
