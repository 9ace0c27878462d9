package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// marshalJSON writes m as protojson does (proto field names, fields in
// field-number order, enums by name), except that 64-bit integers are JSON
// numbers: protojson writes them as strings ("term": "2") because
// JavaScript loses precision above 2^53, but haraft's counters, terms and
// indexes are far below that and scripts (jq '.term > 1') expect numbers.
func marshalJSON(m proto.Message, all bool) ([]byte, error) {
	b, err := protojson.MarshalOptions{EmitUnpopulated: all, UseProtoNames: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := readJSON(dec)
	if err != nil {
		return nil, fmt.Errorf("re-reading protojson output: %w", err)
	}
	v = numbers64(m.ProtoReflect().Descriptor(), v)
	var out bytes.Buffer
	writeJSON(&out, v)
	return out.Bytes(), nil
}

// jsonObject is a JSON object with its keys in their order.
type jsonObject []jsonMember

type jsonMember struct {
	key string
	val any
}

// readJSON reads one JSON value: objects as jsonObject, arrays as []any,
// numbers as json.Number, and strings, booleans and null as encoding/json
// reads them.
func readJSON(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			var obj jsonObject
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, ok := k.(string)
				if !ok {
					return nil, errors.New("object key is not a string")
				}
				v, err := readJSON(dec)
				if err != nil {
					return nil, err
				}
				obj = append(obj, jsonMember{key, v})
			}
			_, err := dec.Token() // '}'
			return obj, err
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := readJSON(dec)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			_, err := dec.Token() // ']'
			return arr, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	}
	return tok, nil
}

// is64 reports a field kind protojson writes as a string.
func is64(k protoreflect.Kind) bool {
	switch k {
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return true
	}
	return false
}

// numbers64 turns the string values of md's 64-bit integer fields (in
// nested messages, lists and map values too) into JSON numbers.
func numbers64(md protoreflect.MessageDescriptor, v any) any {
	obj, ok := v.(jsonObject)
	if !ok {
		return v
	}
	fields := md.Fields()
	for i, mem := range obj {
		fd := fields.ByName(protoreflect.Name(mem.key))
		if fd == nil {
			fd = fields.ByJSONName(mem.key)
		}
		if fd == nil {
			continue
		}
		switch {
		case fd.IsMap():
			if mv, ok := mem.val.(jsonObject); ok {
				for j := range mv {
					mv[j].val = value64(fd.MapValue(), mv[j].val)
				}
			}
		case fd.IsList():
			if arr, ok := mem.val.([]any); ok {
				for j := range arr {
					arr[j] = value64(fd, arr[j])
				}
			}
		default:
			obj[i].val = value64(fd, mem.val)
		}
	}
	return obj
}

// value64 converts one value of field fd (a single value, a list element
// or a map value).
func value64(fd protoreflect.FieldDescriptor, v any) any {
	switch {
	case fd.Message() != nil:
		return numbers64(fd.Message(), v)
	case is64(fd.Kind()):
		if s, ok := v.(string); ok {
			// protojson wrote an integer in decimal: unquote it.
			if _, err := strconv.ParseInt(s, 10, 64); err == nil {
				return json.Number(s)
			}
			if _, err := strconv.ParseUint(s, 10, 64); err == nil {
				return json.Number(s)
			}
		}
	}
	return v
}

// writeJSON writes v compactly, keys in their order.
func writeJSON(w *bytes.Buffer, v any) {
	switch t := v.(type) {
	case jsonObject:
		w.WriteByte('{')
		for i, m := range t {
			if i > 0 {
				w.WriteByte(',')
			}
			writeJSONString(w, m.key)
			w.WriteByte(':')
			writeJSON(w, m.val)
		}
		w.WriteByte('}')
	case []any:
		w.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				w.WriteByte(',')
			}
			writeJSON(w, e)
		}
		w.WriteByte(']')
	case json.Number:
		w.WriteString(string(t))
	case string:
		writeJSONString(w, t)
	default: // bool, nil
		b, _ := json.Marshal(t)
		w.Write(b)
	}
}

func writeJSONString(w *bytes.Buffer, s string) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	w.Truncate(w.Len() - 1) // Encode's newline
}
