// Package sigv4test holds what the emulators' tests share about the
// SigV4 verifier: the check that a service answers every refusal.
package sigv4test

import (
	"testing"

	"github.com/haraft/haraft/eipmover/internal/sigv4"
)

// CheckAnswers fails t unless want names every Reason the verifier knows
// and answers gives each the code and status want gives it (the message
// is the verifier's unless a service sets its own).
func CheckAnswers(t *testing.T, answers, want sigv4.Answers) {
	t.Helper()
	if len(want) != int(sigv4.Expired) || len(answers) != len(want) {
		t.Fatalf("%d reasons wanted, %d answered, %d known", len(want), len(answers), sigv4.Expired)
	}
	for r := sigv4.MissingAuth; r <= sigv4.Expired; r++ {
		t.Run(r.String(), func(t *testing.T) {
			w, ok := want[r]
			if !ok {
				t.Fatalf("%v: no answer wanted", r)
			}
			got := answers.For(&sigv4.Error{Reason: r, Message: "m"})
			if got.Code != w.Code || got.Status != w.Status {
				t.Fatalf("%v: got %d %s, want %d %s", r, got.Status, got.Code, w.Status, w.Code)
			}
		})
	}
}
