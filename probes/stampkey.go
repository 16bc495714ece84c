package probes

import (
	"fmt"
	"os"
)

// STAMPMinKeyLen is the shortest STAMP HMAC key srv6oam accepts (HMAC TLV and authenticated
// mode): RFC 2104 advises against keys shorter than the HMAC's output, 16 octets after
// STAMP's truncation.
const STAMPMinKeyLen = 16

// ReadSTAMPKey reads a STAMP HMAC key: the file's bytes as they are, at least STAMPMinKeyLen.
func ReadSTAMPKey(file string) ([]byte, error) {
	key, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if len(key) < STAMPMinKeyLen {
		return nil, fmt.Errorf("%s: %d bytes, want at least %d", file, len(key), STAMPMinKeyLen)
	}
	return key, nil
}
