package ec2emu

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	imdsTokenPath   = "/latest/api/token"
	imdsTokenHeader = "X-Aws-Ec2-Metadata-Token"
	imdsTTLHeader   = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"
	imdsMaxTTL      = 21600 // seconds, as on EC2
)

// imdsHandler is an IMDSv2-only instance metadata service for one instance.
type imdsHandler struct {
	e          *Emulator
	instanceID string

	mu     sync.Mutex
	tokens map[string]time.Time // token -> expiry
}

// IMDSHandler returns an IMDSv2 endpoint for one instance, as if it were
// http://169.254.169.254 seen from that instance. Tokens are required
// (IMDSv1 is off): PUT /latest/api/token with
// X-aws-ec2-metadata-token-ttl-seconds returns one, and GET requests must
// carry it in X-aws-ec2-metadata-token, else 401. It serves
// /latest/meta-data/{instance-id, instance-type, ami-id, local-ipv4,
// public-ipv4, local-hostname, placement/availability-zone,
// placement/region} and /latest/dynamic/instance-identity/document, from
// the emulator's current state.
func (e *Emulator) IMDSHandler(instanceID string) http.Handler {
	return &imdsHandler{e: e, instanceID: instanceID, tokens: map[string]time.Time{}}
}

func (h *imdsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == imdsTokenPath {
		h.serveToken(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		imdsText(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	if !h.validToken(r.Header.Get(imdsTokenHeader)) {
		imdsText(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	h.e.mu.Lock()
	rec, ok := h.e.instances[h.instanceID]
	var inst instanceRec
	var publicIP string
	if ok {
		inst = *rec
		publicIP = h.e.publicIPOfLocked(inst.ENI, inst.PrivateIP)
	}
	accountID := h.e.opts.AccountID
	h.e.mu.Unlock()
	if !ok {
		imdsText(w, http.StatusNotFound, "Not Found")
		return
	}
	region := regionOfAZ(inst.AZ)
	hostname := "ip-" + strings.ReplaceAll(inst.PrivateIP, ".", "-") + "." + region + ".compute.internal"

	var body string
	switch strings.TrimPrefix(r.URL.Path, "/latest") {
	case "/meta-data", "/meta-data/":
		list := []string{"ami-id", "hostname", "instance-id", "instance-type", "local-hostname", "local-ipv4", "placement/"}
		if publicIP != "" {
			list = append(list, "public-ipv4")
		}
		body = strings.Join(list, "\n")
	case "/meta-data/instance-id":
		body = inst.ID
	case "/meta-data/instance-type":
		body = inst.InstanceType
	case "/meta-data/ami-id":
		body = inst.imageID
	case "/meta-data/local-ipv4":
		body = inst.PrivateIP
	case "/meta-data/hostname", "/meta-data/local-hostname":
		body = hostname
	case "/meta-data/public-ipv4":
		if publicIP == "" {
			imdsText(w, http.StatusNotFound, "Not Found")
			return
		}
		body = publicIP
	case "/meta-data/placement", "/meta-data/placement/":
		body = "availability-zone\nregion"
	case "/meta-data/placement/availability-zone":
		body = inst.AZ
	case "/meta-data/placement/region":
		body = region
	case "/dynamic", "/dynamic/":
		body = "instance-identity/"
	case "/dynamic/instance-identity", "/dynamic/instance-identity/":
		body = "document"
	case "/dynamic/instance-identity/document":
		doc := struct {
			AccountID        string `json:"accountId"`
			Architecture     string `json:"architecture"`
			AvailabilityZone string `json:"availabilityZone"`
			ImageID          string `json:"imageId"`
			InstanceID       string `json:"instanceId"`
			InstanceType     string `json:"instanceType"`
			PendingTime      string `json:"pendingTime"`
			PrivateIP        string `json:"privateIp"`
			Region           string `json:"region"`
			Version          string `json:"version"`
		}{accountID, "x86_64", inst.AZ, inst.imageID, inst.ID, inst.InstanceType,
			inst.launched.Format(time.RFC3339), inst.PrivateIP, region, "2017-09-30"}
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			imdsText(w, http.StatusInternalServerError, "Internal Server Error")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		body = string(b)
	default:
		imdsText(w, http.StatusNotFound, "Not Found")
		return
	}
	imdsText(w, http.StatusOK, body)
}

func (h *imdsHandler) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut {
		imdsText(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	// EC2 refuses token requests that went through a proxy.
	if r.Header.Get("X-Forwarded-For") != "" {
		imdsText(w, http.StatusForbidden, "Forbidden")
		return
	}
	ttl, err := strconv.Atoi(r.Header.Get(imdsTTLHeader))
	if err != nil || ttl < 1 || ttl > imdsMaxTTL {
		imdsText(w, http.StatusBadRequest, "Bad Request")
		return
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails
	tok := base64.StdEncoding.EncodeToString(raw[:])
	now := h.e.now()
	h.mu.Lock()
	for t, exp := range h.tokens {
		if !now.Before(exp) {
			delete(h.tokens, t)
		}
	}
	h.tokens[tok] = now.Add(time.Duration(ttl) * time.Second)
	h.mu.Unlock()
	w.Header().Set(imdsTTLHeader, strconv.Itoa(ttl))
	imdsText(w, http.StatusOK, tok)
}

func (h *imdsHandler) validToken(tok string) bool {
	if tok == "" {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	exp, ok := h.tokens[tok]
	return ok && h.e.now().Before(exp)
}

func imdsText(w http.ResponseWriter, status int, body string) {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "text/plain")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
