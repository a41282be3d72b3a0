package uplink

import (
	"maps"
	"slices"
)

// KnownRequests lists the commands that decode to a Request type, so the
// external tests can check they cover every one.
func KnownRequests() []string { return slices.Sorted(maps.Keys(newRequest)) }

// DecodeDirectUploadURL runs the direct_upload_url decoder on one frame:
// the usable targets and whether the main entry is one of them.
func DecodeDirectUploadURL(data []byte) (UploadGrant, bool, error) {
	m, err := DecodeMessage(data)
	if err != nil {
		return UploadGrant{}, false, err
	}
	a := decodeDirectUploadURL(m)
	return a.grant, a.mainOK, nil
}

// PendingGrants is the number of RequestUpload calls waiting for a
// direct_upload_url on the current connection.
func (s *Session) PendingGrants() int {
	s.mu.Lock()
	c := s.cur
	s.mu.Unlock()
	if c == nil {
		return 0
	}
	c.gmu.Lock()
	defer c.gmu.Unlock()
	return len(c.grants)
}
