package render

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
)

// Format is an output format chosen with -o/--output.
type Format string

// The output formats every read command supports.
const (
	FormatTable  Format = "table"
	FormatJSON   Format = "json"
	FormatNDJSON Format = "ndjson"
)

// Formats lists the valid --output values, for help texts and completion.
var Formats = []string{string(FormatTable), string(FormatJSON), string(FormatNDJSON)}

// ParseFormat validates an --output value; empty means table.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case "", FormatTable:
		return FormatTable, nil
	case FormatJSON, FormatNDJSON:
		return Format(s), nil
	}
	return "", fmt.Errorf("invalid output format %q: want table, json or ndjson", s)
}

// WriteJSON writes v as indented JSON followed by a newline. Strings are
// escaped faithfully; HTML characters are left alone.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteNDJSON writes each element of the slice v as one compact JSON line.
// A value that is not a slice is written as one line.
func WriteNDJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice {
		return enc.Encode(v)
	}
	for i := 0; i < rv.Len(); i++ {
		if err := enc.Encode(rv.Index(i).Interface()); err != nil {
			return err
		}
	}
	return nil
}

// WriteData writes v as JSON or NDJSON according to f; callers handle the
// table format themselves.
func WriteData(w io.Writer, f Format, v any) error {
	if f == FormatNDJSON {
		return WriteNDJSON(w, v)
	}
	return WriteJSON(w, v)
}
