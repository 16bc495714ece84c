package srh

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"net/netip"
)

// HMACAlgorithm is an algorithm id of Linux's SEG6_HMAC_ALGO_* (uapi/linux/seg6_hmac.h), as
// `ip sr hmac set KEYID sha1|sha256` configures it.
type HMACAlgorithm uint8

// Algorithms Linux implements.
const (
	HMACSHA1   HMACAlgorithm = 1
	HMACSHA256 HMACAlgorithm = 2
)

func (a HMACAlgorithm) String() string {
	switch a {
	case HMACSHA1:
		return "sha1"
	case HMACSHA256:
		return "sha256"
	}
	return fmt.Sprintf("HMACAlgorithm(%d)", uint8(a))
}

// HMAC TLV sizes (RFC 8754 §2.1.2, Linux's struct sr6_tlv_hmac).
const (
	HMACValueLen = 38 // reserved (2) + key id (4) + HMAC field (32)
	HMACFieldLen = 32 // SEG6_HMAC_FIELD_LEN; a SHA-1 digest is zero-padded
	// HMACSecretMaxLen is SEG6_HMAC_SECRET_LEN: Linux refuses longer secrets.
	HMACSecretMaxLen = 64
)

// HMACKey is a shared secret as Linux's `ip sr hmac set` knows it.
type HMACKey struct {
	// ID is the HMAC Key ID, carried in the TLV; Linux refuses 0.
	ID uint32
	// Algorithm selects SHA-1 or SHA-256.
	Algorithm HMACAlgorithm
	// Secret is at most 64 bytes.
	Secret []byte
}

// HMACTLV is the decoded value of an HMAC TLV.
type HMACTLV struct {
	// Reserved holds the D bit (0x8000) and reserved bits as sent.
	Reserved uint16
	KeyID    uint32
	HMAC     [HMACFieldLen]byte
}

// ParseHMAC decodes the value of an HMAC TLV.
func ParseHMAC(value []byte) (HMACTLV, error) {
	if len(value) != HMACValueLen {
		return HMACTLV{}, fieldErr("HMAC Length", "%d, want %d (Linux checks for exactly this length)", len(value), HMACValueLen)
	}
	return HMACTLV{
		Reserved: binary.BigEndian.Uint16(value[0:2]),
		KeyID:    binary.BigEndian.Uint32(value[2:6]),
		HMAC:     [HMACFieldLen]byte(value[6:]),
	}, nil
}

func (k HMACKey) check() error {
	if k.ID == 0 {
		return fieldErr("HMAC Key ID", "0 is not a key id Linux accepts")
	}
	if len(k.Secret) > HMACSecretMaxLen {
		return fieldErr("HMAC Key", "%d-byte secret, Linux holds at most %d", len(k.Secret), HMACSecretMaxLen)
	}
	return nil
}

// Compute returns the HMAC field for s sent from src, computed like Linux's seg6_hmac_compute:
// the keyed hash over source address (16) | Last Entry (1) | Flags (1) | key id (4, big
// endian) | every segment in wire order (16 each), truncated or zero-padded to 32 bytes. Last
// Entry is len(s.Segments)-1 and Flags is s.Flags as they are (Sign sets FlagHMAC first).
func (k HMACKey) Compute(src netip.Addr, s *SRH) ([HMACFieldLen]byte, error) {
	var out [HMACFieldLen]byte
	if err := k.check(); err != nil {
		return out, err
	}
	if !src.Is6() || src.Is4In6() {
		return out, fieldErr("HMAC source", "%v is not an IPv6 address", src)
	}
	n := len(s.Segments)
	if n == 0 || n > 256 {
		return out, fieldErr("Segment List", "%d segments", n)
	}
	var h hash.Hash
	switch k.Algorithm {
	case HMACSHA1:
		h = hmac.New(sha1.New, k.Secret)
	case HMACSHA256:
		h = hmac.New(sha256.New, k.Secret)
	default:
		return out, fieldErr("HMAC algorithm", "%d, Linux knows 1 (sha1) and 2 (sha256)", uint8(k.Algorithm))
	}
	var text [16 + 1 + 1 + 4]byte
	a := src.As16()
	copy(text[:16], a[:])
	text[16] = uint8(n - 1)
	text[17] = s.Flags
	binary.BigEndian.PutUint32(text[18:22], k.ID)
	h.Write(text[:])
	for i := n - 1; i >= 0; i-- {
		seg := s.Segments[i].As16()
		h.Write(seg[:])
	}
	copy(out[:], h.Sum(nil))
	return out, nil
}

// Sign sets FlagHMAC, computes the HMAC for a packet from src, and puts the HMAC TLV last in
// s.TLVs (replacing an HMAC TLV already there), where Linux looks for it. Sign after the
// segment list and flags are final: they are covered; Segments Left, Tag and other TLVs are not.
func (s *SRH) Sign(src netip.Addr, key HMACKey) error {
	s.Flags |= FlagHMAC
	mac, err := key.Compute(src, s)
	if err != nil {
		return err
	}
	v := make([]byte, HMACValueLen)
	binary.BigEndian.PutUint32(v[2:6], key.ID)
	copy(v[6:], mac[:])
	tlvs := s.TLVs[:0]
	for _, t := range s.TLVs {
		if t.Type != TypeHMAC {
			tlvs = append(tlvs, t)
		}
	}
	s.TLVs = append(tlvs, TLV{Type: TypeHMAC, Value: v})
	return nil
}

// VerifyHMAC checks the HMAC TLV of s (the last TLV, as Linux reads it) for a packet from src
// against key, in constant time.
func (s *SRH) VerifyHMAC(src netip.Addr, key HMACKey) error {
	if s.Flags&FlagHMAC == 0 {
		return fieldErr("Flags", "H-flag (0x08) clear: the packet is not signed")
	}
	if len(s.TLVs) == 0 || s.TLVs[len(s.TLVs)-1].Type != TypeHMAC {
		return fieldErr("TLV", "no HMAC TLV in the last position, where Linux reads it")
	}
	tlv, err := ParseHMAC(s.TLVs[len(s.TLVs)-1].Value)
	if err != nil {
		return err
	}
	if tlv.KeyID != key.ID {
		return fieldErr("HMAC Key ID", "%d, the key is %d", tlv.KeyID, key.ID)
	}
	want, err := key.Compute(src, s)
	if err != nil {
		return err
	}
	if !hmac.Equal(want[:], tlv.HMAC[:]) {
		return fieldErr("HMAC", "mismatch for key %d (%v)", key.ID, key.Algorithm)
	}
	return nil
}
