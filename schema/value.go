package schema

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Type is the type of a column and of the values it holds.
type Type uint8

const (
	Null Type = iota // only for values: SQL NULL
	Text
	Integer
	Real
	Boolean
)

func (t Type) String() string {
	switch t {
	case Null:
		return "null"
	case Text:
		return "text"
	case Integer:
		return "integer"
	case Real:
		return "real"
	case Boolean:
		return "boolean"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Value is one cell. The zero Value is NULL.
type Value struct {
	Type Type
	Text string
	Int  int64
	Real float64
	Bool bool
}

func TextValue(s string) Value  { return Value{Type: Text, Text: s} }
func IntValue(i int64) Value    { return Value{Type: Integer, Int: i} }
func RealValue(f float64) Value { return Value{Type: Real, Real: f} }
func BoolValue(b bool) Value    { return Value{Type: Boolean, Bool: b} }
func (v Value) IsNull() bool    { return v.Type == Null }
func (v Value) Equal(o Value) bool {
	return v == o || (v.Type == Real && o.Type == Real && v.Real == o.Real)
}

// JSON returns the value as a plain Go value for encoding/json: nil, string,
// int64, float64 or bool. A number that is not finite, which encoding/json
// refuses, is its text ("NaN", "+Inf"): Check refuses such a value, but the
// change that carried it is still held for staff, in JSON.
func (v Value) JSON() any {
	switch v.Type {
	case Text:
		return v.Text
	case Integer:
		return v.Int
	case Real:
		if math.IsNaN(v.Real) || math.IsInf(v.Real, 0) {
			return v.String()
		}
		return v.Real
	case Boolean:
		return v.Bool
	}
	return nil
}

// SQL returns the value as a database/sql argument.
func (v Value) SQL() any {
	switch v.Type {
	case Text:
		return v.Text
	case Integer:
		return v.Int
	case Real:
		return v.Real
	case Boolean:
		if v.Bool {
			return int64(1)
		}
		return int64(0)
	}
	return nil
}

// FromSQL converts what database/sql scanned from a column of type t. A
// number may come as its exact text too: PostgreSQL's conflict log keeps
// every value in a text column, by its type.
func FromSQL(t Type, src any) (Value, error) {
	if src == nil {
		return Value{}, nil
	}
	if s, ok := src.(string); ok && t != Text {
		switch t {
		case Integer, Boolean:
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				src = i
			}
		case Real:
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				src = f
			}
		}
	}
	switch t {
	case Text:
		switch s := src.(type) {
		case string:
			return TextValue(s), nil
		case []byte:
			return TextValue(string(s)), nil
		}
	case Integer:
		if i, ok := src.(int64); ok {
			return IntValue(i), nil
		}
	case Real:
		switch f := src.(type) {
		case float64:
			return RealValue(f), nil
		case int64:
			return RealValue(float64(f)), nil
		}
	case Boolean:
		if i, ok := src.(int64); ok {
			return BoolValue(i != 0), nil
		}
	}
	return Value{}, fmt.Errorf("column of type %s holds %T", t, src)
}

// String renders the value for people (and for the CLI's field=value form).
func (v Value) String() string {
	switch v.Type {
	case Text:
		return v.Text
	case Integer:
		return strconv.FormatInt(v.Int, 10)
	case Real:
		return strconv.FormatFloat(v.Real, 'g', -1, 64)
	case Boolean:
		return strconv.FormatBool(v.Bool)
	}
	return "null"
}

// Parse reads a value for column c from text typed by a person: "null" (or
// an empty string for non-text columns) is NULL.
func (c *Column) Parse(s string) (Value, error) {
	if s == "null" || (s == "" && c.Type != Text) {
		return Value{}, nil
	}
	var v Value
	switch c.Type {
	case Text:
		v = TextValue(s)
	case Integer:
		i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return Value{}, c.fail("parse_integer", s)
		}
		v = IntValue(i)
	case Real:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return Value{}, c.fail("parse_number", s)
		}
		v = RealValue(f)
	case Boolean:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return Value{}, c.fail("parse_bool", s)
		}
		v = BoolValue(b)
	}
	return v, c.Check(v)
}

// Fields builds field values from name, value pairs of plain Go values
// (string, int, int64, float64, bool or nil), for code that writes records.
func Fields(pairs ...any) (map[string]Value, error) {
	if len(pairs)%2 != 0 {
		return nil, fmt.Errorf("fields: %d arguments, want name, value pairs", len(pairs))
	}
	out := make(map[string]Value, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		name, ok := pairs[i].(string)
		if !ok {
			return nil, fmt.Errorf("fields: argument %d is a %T, want a field name", i, pairs[i])
		}
		switch v := pairs[i+1].(type) {
		case nil:
			out[name] = Value{}
		case string:
			out[name] = TextValue(v)
		case int:
			out[name] = IntValue(int64(v))
		case int64:
			out[name] = IntValue(v)
		case float64:
			out[name] = RealValue(v)
		case bool:
			out[name] = BoolValue(v)
		default:
			return nil, fmt.Errorf("fields: %s is a %T, want string, int, float64, bool or nil", name, v)
		}
	}
	return out, nil
}
