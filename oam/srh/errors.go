package srh

import (
	"errors"
	"fmt"
)

// FieldError is returned for a malformed or unserializable SRH or TLV. Field names the wire
// field (as RFC 8754 spells it: "Routing Type", "Hdr Ext Len", "Segments Left", "Last Entry",
// "Segment List", "TLV", or a TLV's own field), Reason the rule that was broken.
// Use errors.As to get at it.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return "srh: " + e.Field + ": " + e.Reason }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ErrNoTLV is returned (wrapped) when an SRH carries no TLV of the requested type.
var ErrNoTLV = errors.New("srh: no such TLV")
