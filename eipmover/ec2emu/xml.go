package ec2emu

import (
	"encoding/xml"
	"fmt"
	"net/http"

	"github.com/haraft/haraft/eipmover/internal/awsxml"
)

// ec2XMLNS is the namespace of EC2 API version 2016-11-15, the version the
// SDKs and the CLI send.
const ec2XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15/"

// apiError is an EC2 error: a code, a message and the HTTP status EC2 sends
// with it.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func newAPIError(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// clientError is a 400-series EC2 error.
func clientError(code, format string, args ...any) *apiError {
	return newAPIError(http.StatusBadRequest, code, format, args...)
}

func errUnauthorized() *apiError {
	return newAPIError(http.StatusForbidden, "UnauthorizedOperation", "You are not authorized to perform this operation.")
}

func errThrottled() *apiError {
	return newAPIError(http.StatusServiceUnavailable, "RequestLimitExceeded", "Request limit exceeded.")
}

func errInternal() *apiError {
	return newAPIError(http.StatusInternalServerError, "InternalError", "An internal error has occurred")
}

// errorResponse is EC2's error body:
// <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>.
type errorResponse struct {
	XMLName   xml.Name   `xml:"Response"`
	Errors    []xmlError `xml:"Errors>Error"`
	RequestID string     `xml:"RequestID"`
}

type xmlError struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

func writeXML(w http.ResponseWriter, status int, v any) {
	awsxml.Write(w, status, http.Header{"Content-Type": {"text/xml;charset=UTF-8"}, "Server": {"AmazonEC2"}}, v)
}

func writeError(w http.ResponseWriter, requestID string, e *apiError) {
	writeXML(w, e.Status, errorResponse{
		Errors:    []xmlError{{Code: e.Code, Message: e.Message}},
		RequestID: requestID,
	})
}

// Every success response carries the namespace and a requestId first.

type xmlAddress struct {
	PublicIP                string `xml:"publicIp"`
	AllocationID            string `xml:"allocationId"`
	Domain                  string `xml:"domain"`
	InstanceID              string `xml:"instanceId,omitempty"`
	AssociationID           string `xml:"associationId,omitempty"`
	NetworkInterfaceID      string `xml:"networkInterfaceId,omitempty"`
	NetworkInterfaceOwnerID string `xml:"networkInterfaceOwnerId,omitempty"`
	PrivateIPAddress        string `xml:"privateIpAddress,omitempty"`
	PublicIpv4Pool          string `xml:"publicIpv4Pool"`
	NetworkBorderGroup      string `xml:"networkBorderGroup"`
}

type addressSet struct {
	Items []xmlAddress `xml:"item"`
}

type describeAddressesResponse struct {
	XMLName   xml.Name   `xml:"DescribeAddressesResponse"`
	Xmlns     string     `xml:"xmlns,attr"`
	RequestID string     `xml:"requestId"`
	Addresses addressSet `xml:"addressesSet"`
}

type associateAddressResponse struct {
	XMLName       xml.Name `xml:"AssociateAddressResponse"`
	Xmlns         string   `xml:"xmlns,attr"`
	RequestID     string   `xml:"requestId"`
	Return        bool     `xml:"return"`
	AssociationID string   `xml:"associationId"`
}

type disassociateAddressResponse struct {
	XMLName   xml.Name `xml:"DisassociateAddressResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	RequestID string   `xml:"requestId"`
	Return    bool     `xml:"return"`
}

type allocateAddressResponse struct {
	XMLName            xml.Name `xml:"AllocateAddressResponse"`
	Xmlns              string   `xml:"xmlns,attr"`
	RequestID          string   `xml:"requestId"`
	PublicIP           string   `xml:"publicIp"`
	Domain             string   `xml:"domain"`
	AllocationID       string   `xml:"allocationId"`
	PublicIpv4Pool     string   `xml:"publicIpv4Pool"`
	NetworkBorderGroup string   `xml:"networkBorderGroup"`
}

type releaseAddressResponse struct {
	XMLName   xml.Name `xml:"ReleaseAddressResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	RequestID string   `xml:"requestId"`
	Return    bool     `xml:"return"`
}

type describeInstancesResponse struct {
	XMLName      xml.Name       `xml:"DescribeInstancesResponse"`
	Xmlns        string         `xml:"xmlns,attr"`
	RequestID    string         `xml:"requestId"`
	Reservations reservationSet `xml:"reservationSet"`
	NextToken    string         `xml:"nextToken,omitempty"`
}

type reservationSet struct {
	Items []xmlReservation `xml:"item"`
}

type emptySet struct{}

type xmlReservation struct {
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	Groups        emptySet      `xml:"groupSet"`
	Instances     []xmlInstance `xml:"instancesSet>item"`
}

type xmlInstanceState struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

type xmlPlacement struct {
	AvailabilityZone string `xml:"availabilityZone"`
	GroupName        string `xml:"groupName"`
	Tenancy          string `xml:"tenancy"`
}

type xmlInstance struct {
	InstanceID       string              `xml:"instanceId"`
	ImageID          string              `xml:"imageId"`
	State            xmlInstanceState    `xml:"instanceState"`
	PrivateDNSName   string              `xml:"privateDnsName"`
	DNSName          string              `xml:"dnsName"`
	AmiLaunchIndex   int                 `xml:"amiLaunchIndex"`
	InstanceType     string              `xml:"instanceType"`
	LaunchTime       string              `xml:"launchTime"`
	Placement        xmlPlacement        `xml:"placement"`
	SubnetID         string              `xml:"subnetId"`
	VpcID            string              `xml:"vpcId"`
	PrivateIPAddress string              `xml:"privateIpAddress"`
	IPAddress        string              `xml:"ipAddress,omitempty"`
	SourceDestCheck  bool                `xml:"sourceDestCheck"`
	Architecture     string              `xml:"architecture"`
	RootDeviceType   string              `xml:"rootDeviceType"`
	Interfaces       []xmlInstanceNetIfc `xml:"networkInterfaceSet>item"`
	Tags             []xmlTag            `xml:"tagSet>item,omitempty"`
}

type xmlTag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type xmlNetIfcAssociation struct {
	PublicIP      string `xml:"publicIp"`
	PublicDNSName string `xml:"publicDnsName,omitempty"`
	IPOwnerID     string `xml:"ipOwnerId"`
}

type xmlNetIfcAttachment struct {
	AttachmentID        string `xml:"attachmentId"`
	DeviceIndex         int    `xml:"deviceIndex"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
	NetworkCardIndex    int    `xml:"networkCardIndex"`
}

type xmlPrivateIP struct {
	PrivateIPAddress string                `xml:"privateIpAddress"`
	PrivateDNSName   string                `xml:"privateDnsName"`
	Primary          bool                  `xml:"primary"`
	Association      *xmlNetIfcAssociation `xml:"association,omitempty"`
}

type xmlInstanceNetIfc struct {
	NetworkInterfaceID string                `xml:"networkInterfaceId"`
	SubnetID           string                `xml:"subnetId"`
	VpcID              string                `xml:"vpcId"`
	OwnerID            string                `xml:"ownerId"`
	Status             string                `xml:"status"`
	PrivateIPAddress   string                `xml:"privateIpAddress"`
	PrivateDNSName     string                `xml:"privateDnsName"`
	SourceDestCheck    bool                  `xml:"sourceDestCheck"`
	Attachment         xmlNetIfcAttachment   `xml:"attachment"`
	Association        *xmlNetIfcAssociation `xml:"association,omitempty"`
	PrivateIPs         []xmlPrivateIP        `xml:"privateIpAddressesSet>item"`
	InterfaceType      string                `xml:"interfaceType"`
}
