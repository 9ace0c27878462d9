package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/proto"
)

// printJSON writes m as indented JSON with every field, in proto names,
// 64-bit integers as numbers (jsonnum.go).
func printJSON(w io.Writer, m proto.Message) error {
	b, err := marshalJSON(m, true)
	if err != nil {
		return err
	}
	// protojson varies its whitespace on purpose; encoding/json's indent
	// is stable, which scripts diffing the output prefer.
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", out.Bytes())
	return err
}

// printJSONLine writes m as one line of JSON (watch).
func printJSONLine(w io.Writer, m proto.Message) error {
	b, err := marshalJSON(m, false)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", out.Bytes())
	return err
}

// table writes aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cols ...string) {
	for i, c := range cols {
		if c == "" {
			cols[i] = "-"
		}
	}
	fmt.Fprintln(t.tw, strings.Join(cols, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// emit prints m as JSON, or calls tableFn for the table.
func (a *app) emit(m proto.Message, tableFn func(io.Writer) error) error {
	switch a.output {
	case "json":
		return printJSON(a.stdout, m)
	case "table", "":
		return tableFn(a.stdout)
	}
	return usagef("-o %q: use table or json", a.output)
}

func ms(v int64) string {
	switch {
	case v < 0:
		return "-"
	case v < 1000:
		return fmt.Sprintf("%dms", v)
	}
	return (time.Duration(v) * time.Millisecond).Round(100 * time.Millisecond).String()
}

func unixMs(v int64) string {
	if v == 0 {
		return "-"
	}
	return time.UnixMilli(v).UTC().Format(time.RFC3339)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func u(v uint64) string { return fmt.Sprint(v) }

// lower strips an enum's prefix and lower-cases it: HEALTH_UP -> up.
func lower(enum, prefix string) string {
	return strings.ToLower(strings.TrimPrefix(enum, prefix))
}
