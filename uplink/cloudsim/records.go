package cloudsim

import (
	"slices"
	"time"
)

// Limits of a record upload (docs/protocol.md#storage-direct-recording).
const (
	// maxRecordMS: a record chunk lasts at most 10 minutes.
	maxRecordMS = 10 * 60 * 1000
	// maxFileTimeAhead: a recording cannot start in the future; agent and
	// simulator share the clock, so this is rounding room only.
	maxFileTimeAhead = time.Second
)

// RecordUpload is one record upload the server accepted: an MP4 of stream
// StreamID starting at FileTime and lasting Duration, as get_direct_upload_url
// announced it (the PUT carried exactly Size bytes, once).
type RecordUpload struct {
	StreamID string
	FileTime time.Time
	Duration time.Duration
	Size     int64
	Body     []byte
	Received time.Time
}

// End is where the upload's video ends by its announcement.
func (u RecordUpload) End() time.Time { return u.FileTime.Add(u.Duration) }

// RecordUploads returns the accepted record uploads of stream, ordered by
// file_time (ties by arrival).
func (s *Server) RecordUploads(stream string) []RecordUpload {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []RecordUpload
	for _, p := range s.direct.puts {
		if p.Category == "record" && p.StreamID == stream {
			out = append(out, RecordUpload{StreamID: p.StreamID, FileTime: p.FileTime,
				Duration: time.Duration(p.Duration) * time.Millisecond, Size: p.Size, Body: p.Body, Received: p.Received})
		}
	}
	slices.SortStableFunc(out, func(a, b RecordUpload) int { return a.FileTime.Compare(b.FileTime) })
	return out
}
