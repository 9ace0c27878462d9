package ec2emu

import (
	"errors"
	"fmt"
)

// ErrHistory is wrapped by the errors of VerifyHistory.
var ErrHistory = errors.New("ec2emu: inconsistent association history")

// VerifyHistory checks a log from Associations: events are in sequence and
// time order; each change of an address starts from the holder the
// previous change left (so an address never had two holders, and no change
// was lost); and no interface address held two EIPs at once.
func VerifyHistory(events []AssociationEvent) error {
	type target struct{ eni, ip string }
	holder := map[string]AssociationEvent{} // allocation ID -> last event
	onTarget := map[target]string{}         // interface address -> allocation ID
	for i, ev := range events {
		if i > 0 {
			prev := events[i-1]
			if ev.Seq <= prev.Seq {
				return fmt.Errorf("event %d: seq %d after %d: %w", i, ev.Seq, prev.Seq, ErrHistory)
			}
			if ev.Time.Before(prev.Time) {
				return fmt.Errorf("event seq %d: time %s before %s: %w", ev.Seq, ev.Time, prev.Time, ErrHistory)
			}
		}
		last := holder[ev.AllocationID]
		if ev.PrevAssociationID != last.AssociationID || ev.PrevNetworkInterfaceID != last.NetworkInterfaceID || ev.PrevPrivateIP != last.PrivateIP {
			return fmt.Errorf("address %s, event seq %d: previous holder %q (%s %s) but the log left it with %q (%s %s): %w",
				ev.AllocationID, ev.Seq, ev.PrevAssociationID, ev.PrevNetworkInterfaceID, ev.PrevPrivateIP,
				last.AssociationID, last.NetworkInterfaceID, last.PrivateIP, ErrHistory)
		}
		if last.AssociationID != "" {
			delete(onTarget, target{last.NetworkInterfaceID, last.PrivateIP})
		}
		if ev.AssociationID != "" {
			t := target{ev.NetworkInterfaceID, ev.PrivateIP}
			if other, ok := onTarget[t]; ok && other != ev.AllocationID {
				return fmt.Errorf("event seq %d: %s %s holds %s and %s at once: %w", ev.Seq, t.eni, t.ip, other, ev.AllocationID, ErrHistory)
			}
			onTarget[t] = ev.AllocationID
		}
		holder[ev.AllocationID] = ev
	}
	return nil
}
