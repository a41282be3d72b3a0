package spool

import (
	"maps"
	"time"
)

// Stats is a snapshot of a spool for the status page and metrics.
type Stats struct {
	// Items and Bytes are what is queued (Bytes counts payloads and their
	// journal files, as the budget does).
	Items int
	Bytes int64
	// OldestCreated is the Created of the oldest queued item; zero if empty.
	OldestCreated time.Time
	// ByClass counts queued items per class.
	ByClass map[Class]int
	// Inflight counts items being delivered now.
	Inflight int
	// Waiting is set while a delivery said ErrWait and Wake has not come.
	Waiting bool
	// Uploaded and UploadedBytes count items delivered and their payloads.
	Uploaded      int64
	UploadedBytes int64
	// Failures counts deliver errors that will be retried.
	Failures int64
	// LastUpload is when the last delivery succeeded; zero if none.
	LastUpload time.Time
	// LastError is the last deliver error's text; empty if none.
	LastError string
	// Dropped counts items that left unsent by reason: "budget", "disk",
	// "age", "refused", "corrupt", "full".
	Dropped map[string]int64
}

// counters are the running totals behind Stats; guarded by Spool.mu.
type counters struct {
	uploaded, uploadedBytes, failures int64
	lastUpload                        time.Time
	lastError                         string
	dropped                           map[string]int64
}

func newCounters() counters {
	return counters{dropped: map[string]int64{}}
}

// Stats returns the spool's current numbers.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		Items:         len(s.byID),
		Bytes:         s.bytes,
		ByClass:       make(map[Class]int, numClasses),
		Waiting:       s.parked,
		Uploaded:      s.st.uploaded,
		UploadedBytes: s.st.uploadedBytes,
		Failures:      s.st.failures,
		LastUpload:    s.st.lastUpload,
		LastError:     s.st.lastError,
		Dropped:       maps.Clone(s.st.dropped),
	}
	for _, c := range Classes {
		q := s.classes[c]
		st.ByClass[c] = len(q)
		if len(q) > 0 && (st.OldestCreated.IsZero() || q[0].Created.Before(st.OldestCreated)) {
			st.OldestCreated = q[0].Created
		}
		for _, e := range q {
			if e.inflight {
				st.Inflight++
			}
		}
	}
	return st
}
