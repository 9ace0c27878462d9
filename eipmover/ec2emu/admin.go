package ec2emu

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
)

// adminPrefix is where the JSON admin API lives on the emulator's handler.
// It has no authentication: serve the emulator on loopback only.
const adminPrefix = "/_emu/"

// SeedData is a set of initial state: the -seed file of cmd/ec2emu, the body
// of POST /_emu/seed and the argument of Load.
type SeedData struct {
	Instances   []Instance    `json:"instances,omitempty"`
	Addresses   []Address     `json:"addresses,omitempty"`
	Credentials []Credentials `json:"credentials,omitempty"`
	Faults      *Faults       `json:"faults,omitempty"`
}

// State is the body of GET /_emu/state.
type State struct {
	Addresses []Address  `json:"addresses"`
	Instances []Instance `json:"instances"`
}

// ParseSeed decodes SeedData, rejecting unknown fields.
func ParseSeed(b []byte) (SeedData, error) {
	var s SeedData
	if err := decodeStrict(b, &s); err != nil {
		return SeedData{}, fmt.Errorf("seed: %w", err)
	}
	return s, nil
}

// Load adds instances, then addresses, then credentials, then sets faults
// if given. It stops at the first error.
func (e *Emulator) Load(s SeedData) error {
	for _, in := range s.Instances {
		if err := e.AddInstance(in); err != nil {
			return fmt.Errorf("load: %w", err)
		}
	}
	for _, a := range s.Addresses {
		if err := e.AddAddress(a); err != nil {
			return fmt.Errorf("load: %w", err)
		}
	}
	for _, c := range s.Credentials {
		if err := e.AddCredentials(c); err != nil {
			return fmt.Errorf("load: %w", err)
		}
	}
	if s.Faults != nil {
		e.SetFaults(*s.Faults)
	}
	return nil
}

// serveAdmin serves:
//
//	GET  /_emu/state          {"addresses":[…],"instances":[…]}
//	GET  /_emu/instances      POST {id, az, eni, private_ip, secondary_ips, instance_type}
//	GET  /_emu/addresses      POST {allocation_id, public_ip, [instance_id | network_interface_id, private_ip]}
//	GET  /_emu/credentials    POST {access_key, secret, allowed_actions}; GET lists keys without secrets
//	GET  /_emu/faults         POST/PUT {latency:"50ms", throttle_every, throttle_rate, server_error_every,
//	                          server_error_rate, error_after_commit_every, error_after_commit_rate,
//	                          describe_lag:"1s", actions:[…]}
//	GET  /_emu/associations   every association change; ?since=SEQ for later ones
//	GET  /_emu/stats          per-action call counts; DELETE resets them
//	POST /_emu/seed           SeedData
func (e *Emulator) serveAdmin(w http.ResponseWriter, r *http.Request) {
	route := r.URL.Path[len(adminPrefix):]
	var body []byte
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil || len(b) > maxBody {
			adminError(w, http.StatusBadRequest, fmt.Errorf("read body: %w", errors.Join(err, ErrInvalid)))
			return
		}
		body = b
	}
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	post := r.Method == http.MethodPost || r.Method == http.MethodPut
	switch {
	case route == "state" && get:
		adminJSON(w, http.StatusOK, State{Addresses: e.Addresses(), Instances: e.Instances()})
	case route == "instances" && get:
		adminJSON(w, http.StatusOK, e.Instances())
	case route == "instances" && post:
		var in Instance
		if adminDecode(w, body, &in) {
			e.adminResult(w, e.AddInstance(in), func() any { return e.instance(in.ID) })
		}
	case route == "addresses" && get:
		adminJSON(w, http.StatusOK, e.Addresses())
	case route == "addresses" && post:
		var a Address
		if adminDecode(w, body, &a) {
			e.adminResult(w, e.AddAddress(a), func() any { return e.address(a.AllocationID) })
		}
	case route == "credentials" && get:
		adminJSON(w, http.StatusOK, e.accessKeys())
	case route == "credentials" && post:
		var c Credentials
		if adminDecode(w, body, &c) {
			e.adminResult(w, e.AddCredentials(c), func() any {
				return map[string]any{"access_key": c.AccessKey, "allowed_actions": c.AllowedActions}
			})
		}
	case route == "faults" && get:
		adminJSON(w, http.StatusOK, e.CurrentFaults())
	case route == "faults" && post:
		var f Faults
		if adminDecode(w, body, &f) {
			e.SetFaults(f)
			adminJSON(w, http.StatusOK, e.CurrentFaults())
		}
	case route == "associations" && get:
		evs := e.Associations()
		if s := r.URL.Query().Get("since"); s != "" {
			since, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				adminError(w, http.StatusBadRequest, fmt.Errorf("since: %w: %w", ErrInvalid, err))
				return
			}
			evs = slices.DeleteFunc(evs, func(ev AssociationEvent) bool { return ev.Seq <= since })
		}
		adminJSON(w, http.StatusOK, evs)
	case route == "stats" && get:
		adminJSON(w, http.StatusOK, e.Stats())
	case route == "stats" && r.Method == http.MethodDelete:
		e.ResetStats()
		w.WriteHeader(http.StatusNoContent)
	case route == "seed" && post:
		s, err := ParseSeed(body)
		if err != nil {
			adminError(w, http.StatusBadRequest, err)
			return
		}
		e.adminResult(w, e.Load(s), func() any { return State{Addresses: e.Addresses(), Instances: e.Instances()} })
	default:
		adminError(w, http.StatusNotFound, fmt.Errorf("no admin route %s %s: %w", r.Method, r.URL.Path, ErrNotFound))
	}
}

func (e *Emulator) instance(id string) Instance {
	for _, in := range e.Instances() {
		if in.ID == id {
			return in
		}
	}
	return Instance{}
}

func (e *Emulator) address(allocationID string) Address {
	for _, a := range e.Addresses() {
		if a.AllocationID == allocationID {
			return a
		}
	}
	return Address{}
}

func (e *Emulator) accessKeys() []map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	keys := make([]string, 0, len(e.creds))
	for k := range e.creds {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]map[string]any, 0, len(keys))
	for _, k := range keys {
		out = append(out, map[string]any{"access_key": k, "allowed_actions": e.creds[k].AllowedActions})
	}
	return out
}

// adminResult answers 201 with result() on success, or the error.
func (e *Emulator) adminResult(w http.ResponseWriter, err error, result func() any) {
	if err != nil {
		status := http.StatusBadRequest
		switch {
		case errors.Is(err, ErrExists):
			status = http.StatusConflict
		case errors.Is(err, ErrNotFound):
			status = http.StatusNotFound
		}
		adminError(w, status, err)
		return
	}
	adminJSON(w, http.StatusCreated, result())
}

func adminDecode(w http.ResponseWriter, body []byte, v any) bool {
	if err := decodeStrict(body, v); err != nil {
		adminError(w, http.StatusBadRequest, err)
		return false
	}
	return true
}

func adminJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "ec2emu: encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func adminError(w http.ResponseWriter, status int, err error) {
	adminJSON(w, status, map[string]string{"error": err.Error()})
}

// decodeStrict decodes one JSON value, rejecting unknown fields and
// trailing data.
func decodeStrict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("decode json: %w: %w", ErrInvalid, err)
	}
	if d.More() {
		return fmt.Errorf("decode json: trailing data: %w", ErrInvalid)
	}
	return nil
}
