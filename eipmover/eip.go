package eipmover

import (
	"context"
	"errors"
	"fmt"
)

// EIP is one configured address: an Elastic IP (ID is its allocation id)
// or a Linux VIP (ID names it).
type EIP struct {
	ID      string
	Address string // the public (EC2) or virtual (VIP) IP address
	HomeAZ  string
}

// Target is how a mover names the node that should hold an address.
type Target struct {
	NodeID             string
	InstanceID         string
	NetworkInterfaceID string
	// PrivateIP, optional, is the private address of the instance or
	// interface the address goes to (EC2 allows one EIP per address).
	PrivateIP string
}

// Association is an address's current holder as the cloud API reports it.
type Association struct {
	AssociationID      string
	InstanceID         string
	NetworkInterfaceID string
	PrivateIP          string
}

// Associated reports whether the address has a holder.
func (a Association) Associated() bool { return a.InstanceID != "" || a.NetworkInterfaceID != "" }

// Is reports whether the association is target: the same interface (and
// private address, when the target names one), or the same instance when
// the target names only an instance.
func (a Association) Is(t Target) bool {
	switch {
	case t.NetworkInterfaceID != "":
		return a.NetworkInterfaceID == t.NetworkInterfaceID && (t.PrivateIP == "" || a.PrivateIP == t.PrivateIP)
	case t.InstanceID != "":
		return a.InstanceID == t.InstanceID && (t.PrivateIP == "" || a.PrivateIP == t.PrivateIP)
	}
	return false
}

// Same reports whether two associations name the same holder.
func (a Association) Same(b Association) bool {
	return a.InstanceID == b.InstanceID && a.NetworkInterfaceID == b.NetworkInterfaceID && a.PrivateIP == b.PrivateIP
}

func (a Association) String() string {
	switch {
	case !a.Associated():
		return "unassociated"
	case a.NetworkInterfaceID != "":
		return fmt.Sprintf("%s/%s (%s)", a.InstanceID, a.NetworkInterfaceID, a.PrivateIP)
	}
	return a.InstanceID
}

// Mover moves addresses through a cloud API on the leader's behalf. Both
// methods are idempotent.
type Mover interface {
	// Describe returns the address's current association.
	Describe(ctx context.Context, eip EIP) (Association, error)
	// Assign moves the address to target. It first checks that the
	// address is still associated as expected (ErrUnexpectedAssociation if
	// not) and does nothing when it is already on target.
	Assign(ctx context.Context, eip EIP, target Target, expected Association) error
}

// LocalMover makes this node serve or stop serving an address (a Linux
// VIP). Every method is idempotent.
type LocalMover interface {
	Hold(ctx context.Context, eip EIP) error
	Release(ctx context.Context, eip EIP) error
	Holding(ctx context.Context, eip EIP) (bool, error)
}

// Errors the movers and the controller wrap; test with errors.Is.
var (
	// ErrUnexpectedAssociation: the address is not where the caller
	// expected it (someone else moved it meanwhile); nothing was changed.
	ErrUnexpectedAssociation = errors.New("eipmover: address not associated as expected")
	// ErrNotLeader: this node is no longer the leader of the term it acts
	// for; nothing was changed.
	ErrNotLeader = errors.New("eipmover: not the leader of this term")
	// ErrNoTarget: the node chosen to hold the address has not reported
	// how the mover can reach it (no instance or interface id).
	ErrNoTarget = errors.New("eipmover: holder has no mover target")
)
