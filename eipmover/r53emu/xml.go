package r53emu

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"

	"github.com/haraft/haraft/eipmover/internal/awsxml"
)

// xmlns is the namespace of every Route 53 request and response body.
const xmlns = "https://route53.amazonaws.com/doc/2013-04-01/"

// apiError is an error as the API reports it: an HTTP status, a code and a
// message. Messages, when set, makes it an InvalidChangeBatch body (one
// message per rejected change).
type apiError struct {
	Status   int
	Code     string
	Message  string
	Messages []string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func newAPIError(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// clientError is a 400-series Route 53 error.
func clientError(code, format string, args ...any) *apiError {
	return newAPIError(http.StatusBadRequest, code, format, args...)
}

func errAuthFailure() *apiError {
	return newAPIError(http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
}

func errAccessDenied() *apiError {
	return newAPIError(http.StatusForbidden, "AccessDenied", "User is not authorized to perform this action.")
}

func errThrottled() *apiError {
	return clientError("Throttling", "Rate exceeded")
}

func errInternal() *apiError {
	return newAPIError(http.StatusInternalServerError, "InternalFailure", "An internal error has occurred")
}

func errInvalidChangeBatch(msgs ...string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "InvalidChangeBatch", Message: "ChangeBatch errors occurred", Messages: msgs}
}

// errorResponse is Route 53's generic error body:
// <ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>.
type errorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Error     xmlError `xml:"Error"`
	RequestID string   `xml:"RequestId"`
}

type xmlError struct {
	Type    string `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

func writeXML(w http.ResponseWriter, requestID string, status int, v any) {
	awsxml.Write(w, status, http.Header{"Content-Type": {"text/xml"}, "X-Amzn-Requestid": {requestID}}, v)
}

// writeError writes Route 53's ErrorResponse. A refused change batch is
// InvalidChangeBatch with its messages in brackets, "[m1, m2]", as the
// service answers it (the bare <InvalidChangeBatch><Messages> form that
// the SDK also accepts breaks botocore, so the AWS CLI could not read it).
func writeError(w http.ResponseWriter, requestID string, e *apiError) {
	msg := e.Message
	if e.Code == "InvalidChangeBatch" {
		msg = "[" + strings.Join(e.Messages, ", ") + "]"
	}
	typ := "Sender"
	if e.Status >= 500 {
		typ = "Receiver"
	}
	writeXML(w, requestID, e.Status, errorResponse{
		Xmlns:     xmlns,
		Error:     xmlError{Type: typ, Code: e.Code, Message: msg},
		RequestID: requestID,
	})
}

// Request bodies.

type changeResourceRecordSetsRequest struct {
	XMLName     xml.Name       `xml:"ChangeResourceRecordSetsRequest"`
	ChangeBatch xmlChangeBatch `xml:"ChangeBatch"`
}

type xmlChangeBatch struct {
	Comment string      `xml:"Comment"`
	Changes []xmlChange `xml:"Changes>Change"`
}

type xmlChange struct {
	Action            string   `xml:"Action"`
	ResourceRecordSet xmlRRSet `xml:"ResourceRecordSet"`
}

// Shared shapes.

type xmlRRSet struct {
	Name            string      `xml:"Name"`
	Type            string      `xml:"Type"`
	SetIdentifier   string      `xml:"SetIdentifier,omitempty"`
	TTL             *int64      `xml:"TTL,omitempty"`
	ResourceRecords *xmlRecords `xml:"ResourceRecords,omitempty"`
	AliasTarget     *struct {
		DNSName string `xml:"DNSName"`
	} `xml:"AliasTarget,omitempty"`
}

type xmlRecords struct {
	Records []xmlRecord `xml:"ResourceRecord"`
}

type xmlRecord struct {
	Value string `xml:"Value"`
}

type xmlChangeInfo struct {
	ID          string `xml:"Id"`
	Status      string `xml:"Status"`
	SubmittedAt string `xml:"SubmittedAt"`
	Comment     string `xml:"Comment,omitempty"`
}

// Response bodies.

type changeResourceRecordSetsResponse struct {
	XMLName    xml.Name      `xml:"ChangeResourceRecordSetsResponse"`
	Xmlns      string        `xml:"xmlns,attr"`
	ChangeInfo xmlChangeInfo `xml:"ChangeInfo"`
}

type getChangeResponse struct {
	XMLName    xml.Name      `xml:"GetChangeResponse"`
	Xmlns      string        `xml:"xmlns,attr"`
	ChangeInfo xmlChangeInfo `xml:"ChangeInfo"`
}

type listResourceRecordSetsResponse struct {
	XMLName        xml.Name   `xml:"ListResourceRecordSetsResponse"`
	Xmlns          string     `xml:"xmlns,attr"`
	RRSets         []xmlRRSet `xml:"ResourceRecordSets>ResourceRecordSet"`
	IsTruncated    bool       `xml:"IsTruncated"`
	NextRecordName string     `xml:"NextRecordName,omitempty"`
	NextRecordType string     `xml:"NextRecordType,omitempty"`
	MaxItems       string     `xml:"MaxItems"`
}

type xmlHostedZone struct {
	ID              string `xml:"Id"`
	Name            string `xml:"Name"`
	CallerReference string `xml:"CallerReference"`
	Config          struct {
		PrivateZone bool `xml:"PrivateZone"`
	} `xml:"Config"`
	ResourceRecordSetCount int `xml:"ResourceRecordSetCount"`
}

type getHostedZoneResponse struct {
	XMLName       xml.Name      `xml:"GetHostedZoneResponse"`
	Xmlns         string        `xml:"xmlns,attr"`
	HostedZone    xmlHostedZone `xml:"HostedZone"`
	DelegationSet struct {
		NameServers []string `xml:"NameServers>NameServer"`
	} `xml:"DelegationSet"`
}
