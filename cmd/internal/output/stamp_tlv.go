package output

import (
	"fmt"
	"strings"

	"github.com/srv6oam/srv6oam/oam"
	"github.com/srv6oam/srv6oam/probes/stamp"
)

// StampTLVs is what a reply's RFC 8972 / RFC 9503 TLVs said (--stamp-tlv,
// --stamp-return-segs, --stamp-return-addr, --stamp-hmac-key-file).
type StampTLVs struct {
	// ReflectorSeq is the reply's own sequence number (a stateful reflector's count).
	ReflectorSeq uint32 `json:"reflector_seq"`
	// Location: the sender's address and port and the reflector's as the reflector saw them.
	SeenSource      string `json:"seen_source,omitempty"`
	SeenDestination string `json:"seen_destination,omitempty"`
	// TimestampInfo: the reflector's clock source and how it takes T2 and T3.
	SyncSource string `json:"sync_source,omitempty"`
	MethodIn   string `json:"timestamp_in,omitempty"`
	MethodOut  string `json:"timestamp_out,omitempty"`
	// CoS: the DSCP asked for the reply, the DSCP and ECN the test packet arrived with,
	// whether local policy refused the asked DSCP, and the reply's DSCP as it arrived here.
	CoS *StampCoS `json:"cos,omitempty"`
	// Direct Measurement counts.
	Direct *StampDirect `json:"direct,omitempty"`
	// Follow-Up Telemetry: the previous reply's sequence and real transmit time.
	FollowUp *StampFollowUp `json:"follow_up,omitempty"`
	// RFC 9503: whether the named destination answered and the return path was honoured.
	DestinationConfirmed *bool `json:"destination_confirmed,omitempty"`
	ReturnPathHonoured   *bool `json:"return_path_honoured,omitempty"`
	// Unrecognized are the TLVs the reflector flagged U; Malformed and IntegrityFailed the M
	// and I flags (or, with a key, a reply whose HMAC does not verify); HMACVerified: the
	// reply's HMAC verified.
	Unrecognized    []string `json:"unrecognized,omitempty"`
	Malformed       bool     `json:"malformed,omitempty"`
	IntegrityFailed bool     `json:"integrity_failed,omitempty"`
	HMACVerified    bool     `json:"hmac_verified,omitempty"`
}

// StampCoS is the Class of Service TLV of a reply.
type StampCoS struct {
	DSCPAsked   uint8 `json:"dscp_asked"`
	DSCPArrived uint8 `json:"dscp_arrived"`
	ECNArrived  uint8 `json:"ecn_arrived"`
	Refused     bool  `json:"refused"`
	// ReplyDSCP is the DSCP the reply arrived here with (absent when the kernel did not say).
	ReplyDSCP *int `json:"reply_dscp,omitempty"`
}

// StampDirect is the Direct Measurement TLV of a reply.
type StampDirect struct {
	SenderTx    uint32 `json:"sender_tx"`
	ReflectorRx uint32 `json:"reflector_rx"`
	ReflectorTx uint32 `json:"reflector_tx"`
}

// StampFollowUp is the Follow-Up Telemetry TLV of a reply.
type StampFollowUp struct {
	Seq    uint32 `json:"seq"`
	TAINs  int64  `json:"tai_ns"`
	Method string `json:"method"`
}

var syncSourceNames = map[uint8]string{oam.STAMPSyncNTP: "ntp", oam.STAMPSyncPTP: "ptp", oam.STAMPSyncSSU: "ssu",
	oam.STAMPSyncGNSS: "gnss", oam.STAMPSyncFreeRun: "free-running"}
var methodNames = map[uint8]string{oam.STAMPMethodHW: "hardware", oam.STAMPMethodSWLocal: "software", oam.STAMPMethodControl: "control-plane"}

func codeName(m map[uint8]string, v uint8) string {
	if n, ok := m[v]; ok {
		return n
	}
	return fmt.Sprintf("code %d", v)
}

// NewStampTLVs is the TLVs of r, nil when the test packets carried none.
func NewStampTLVs(r *stamp.Result, req *oam.STAMPTLVRequest) *StampTLVs {
	if req.Empty() {
		return nil
	}
	t := &r.TLVs
	j := &StampTLVs{ReflectorSeq: r.ReflectorSequence, Malformed: t.Malformed, IntegrityFailed: t.IntegrityFailed,
		HMACVerified: t.HMACChecked && !t.IntegrityFailed}
	for _, u := range t.Unrecognized {
		j.Unrecognized = append(j.Unrecognized, u.String())
	}
	if t.LocationOK {
		j.SeenSource, j.SeenDestination = t.SeenSrc.String(), t.SeenDst.String()
	}
	if t.TimestampInfoOK {
		j.SyncSource, j.MethodIn, j.MethodOut = codeName(syncSourceNames, t.SyncSource), codeName(methodNames, t.MethodIn), codeName(methodNames, t.MethodOut)
	}
	if t.CoSOK {
		j.CoS = &StampCoS{DSCPAsked: t.DSCPAsked, DSCPArrived: t.DSCPArrived, ECNArrived: t.ECNArrived, Refused: t.DSCPRefused}
		if r.ReplyTClass >= 0 {
			j.CoS.ReplyDSCP = ptr(r.ReplyTClass >> 2)
		}
	}
	if t.DirectOK {
		j.Direct = &StampDirect{SenderTx: t.SenderTx, ReflectorRx: t.ReflRx, ReflectorTx: t.ReflTx}
	}
	if t.FollowUpOK {
		j.FollowUp = &StampFollowUp{Seq: t.FollowUpSeq, TAINs: r.PrevT3, Method: codeName(methodNames, t.FollowUpMethod)}
	}
	if t.DestinationNodeAsked {
		j.DestinationConfirmed = ptr(t.DestinationNodeConfirmed)
	}
	if t.ReturnPathAsked {
		j.ReturnPathHonoured = ptr(t.ReturnPathHonoured)
	}
	return j
}

// FormatStampTLVs is the TLVs of a reply as an indented line (empty without TLVs).
func FormatStampTLVs(j *StampTLVs) string {
	if j == nil {
		return ""
	}
	var parts []string
	if j.IntegrityFailed {
		return "  TLVs: integrity check failed (HMAC): the reflector's answers are not used\n"
	}
	if j.Malformed {
		parts = append(parts, "malformed (the reflector stopped reading them)")
	}
	parts = append(parts, fmt.Sprintf("reflector seq %d", j.ReflectorSeq))
	if j.SeenSource != "" {
		parts = append(parts, fmt.Sprintf("it saw %s → %s", j.SeenSource, j.SeenDestination))
	}
	if j.SyncSource != "" {
		parts = append(parts, fmt.Sprintf("clock %s, T2 %s, T3 %s", j.SyncSource, j.MethodIn, j.MethodOut))
	}
	if c := j.CoS; c != nil {
		s := fmt.Sprintf("arrived DSCP %d ECN %d, asked reply DSCP %d", c.DSCPArrived, c.ECNArrived, c.DSCPAsked)
		if c.Refused {
			s += " (refused)"
		}
		if c.ReplyDSCP != nil {
			s += fmt.Sprintf(", reply came with DSCP %d", *c.ReplyDSCP)
		}
		parts = append(parts, s)
	}
	if d := j.Direct; d != nil {
		parts = append(parts, fmt.Sprintf("counts sent %d, reflector received %d, replied %d", d.SenderTx, d.ReflectorRx, d.ReflectorTx))
	}
	if f := j.FollowUp; f != nil {
		parts = append(parts, fmt.Sprintf("previous reply %d left at %d ns TAI (%s)", f.Seq, f.TAINs, f.Method))
	}
	if c := j.DestinationConfirmed; c != nil {
		parts = append(parts, map[bool]string{true: "destination confirmed", false: "destination NOT this reflector"}[*c])
	}
	if h := j.ReturnPathHonoured; h != nil {
		parts = append(parts, map[bool]string{true: "return path honoured", false: "return path NOT honoured"}[*h])
	}
	if len(j.Unrecognized) > 0 {
		parts = append(parts, "not recognised: "+strings.Join(j.Unrecognized, ", "))
	}
	if j.HMACVerified {
		parts = append(parts, "HMAC verified")
	}
	return "  TLVs: " + strings.Join(parts, "; ") + "\n"
}

// stampTLVNames names the TLVs req puts in every test packet, in their order.
func stampTLVNames(req *oam.STAMPTLVRequest) []string {
	b, err := req.AppendTLVs(nil, 0)
	if err != nil {
		return nil
	}
	var names []string
	oam.WalkSTAMPTLVs(b, func(_ int, t oam.STAMPTLV) bool {
		names = append(names, t.Type.String())
		return true
	})
	return names
}
