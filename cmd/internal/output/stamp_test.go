package output

import (
	"net/netip"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes/stamp"
)

// TestStampOneWayStates: a one-way delay prints as a delay only when both clocks are
// synchronised (or shared) and it is not negative; otherwise it is flagged and left out of the
// statistics and of the JSON delays.
func TestStampOneWayStates(t *testing.T) {
	synced := oam.NewSTAMPErrorEstimate(true, true, 3*time.Microsecond)
	unsynced := oam.NewSTAMPErrorEstimate(false, true, 16*time.Second)
	ms := int64(time.Millisecond)
	ordered := stamp.Result{Sequence: 1, T1: 10 * ms, T2: 12 * ms, T3: 13 * ms, T4: 16 * ms}
	skewed := stamp.Result{Sequence: 1, T1: 10 * ms, T2: 9 * ms, T3: 10 * ms, T4: 16 * ms} // reflector 3 ms behind
	for _, tc := range []struct {
		name          string
		r             stamp.Result
		sender, refl  oam.STAMPErrorEstimate
		shared        bool
		state, line   string
		forwardInJSON bool
	}{
		{"synchronised", ordered, synced, synced, false, "measured",
			"seq=1 rtt=5.000 ms  fwd 2.000  back 3.000  reflector 1.000 ms (one-way, ±0.006)", true},
		{"shared clock", ordered, unsynced, unsynced, true, "measured",
			"seq=1 rtt=5.000 ms  fwd 2.000  back 3.000  reflector 1.000 ms (one-way, shared clock)", true},
		{"sender unsynchronised", ordered, unsynced, synced, false, "unsynchronised",
			"seq=1 rtt=5.000 ms  fwd unsync  back unsync  reflector 1.000 ms (unsync = this host's clock is not synchronised: no one-way delay printed)", false},
		{"reflector unsynchronised", ordered, synced, unsynced, false, "unsynchronised",
			"seq=1 rtt=5.000 ms  fwd unsync  back unsync  reflector 1.000 ms (unsync = the reflector's clock is not synchronised: no one-way delay printed)", false},
		{"negative", skewed, synced, synced, false, "negative",
			"seq=1 rtt=5.000 ms  fwd neg!  back neg!  reflector 1.000 ms (neg! = the two clocks disagree: no one-way delay printed)", false},
	} {
		r := tc.r
		r.SenderError, r.ReflectorError, r.ReflectorSynchronised = tc.sender, tc.refl, tc.refl.Synchronised()
		out := stamp.Outcome{Seq: 1, Reply: &r}
		out.Forward, out.Backward = stamp.Judge(&r, tc.shared)
		state := out.OneWayState().String()
		o := stamp.Options{SharedClock: tc.shared, Port: 862}
		line := FormatStampOutcome(out, oam.Target{Destination: netip.MustParseAddr("fc00:0:4::100")}, o)
		j := NewStampResult(out, tc.shared)
		if state != tc.state || line != tc.line || (j.ForwardMS != nil) != tc.forwardInJSON || (j.RawForwardMS != nil) == tc.forwardInJSON {
			t.Errorf("%s: state %s, line\n%q\nwant %s,\n%q; JSON forward %v raw %v", tc.name, state, line, tc.state, tc.line, j.ForwardMS, j.RawForwardMS)
		}
	}
}
