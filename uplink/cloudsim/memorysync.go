package cloudsim

import (
	"encoding/json"
	"slices"
)

// syncJob is what the server saw of one memory-card sync job
// (docs/protocol.md#memory-card), under Server.mu.
type syncJob struct {
	statuses []map[string]any // reply first, then the unsolicited ones
	progress int64
	final    string
}

var syncFinals = []string{"done", "error", "canceled"}

// syncReply checks the reply to cam_memorycard_synchronize: the request's
// request_id, pending (a job starts) or too_many_requests, no job of that
// id still running.
func (c *simConn) syncReply(p *pending, m map[string]any) {
	s := c.s
	req, _ := p.body.(map[string]any)
	id, _ := m["request_id"].(string)
	if id == "" || req != nil && id != req["request_id"] {
		s.violation("cam_memorycard_synchronize_status: request_id %v does not echo the request's %v", m["request_id"], req["request_id"])
		return
	}
	st, _ := m["status"].(string)
	if st != "pending" && st != "too_many_requests" {
		s.violation("cam_memorycard_synchronize_status reply for %s: status %v, want pending or too_many_requests", id, m["status"])
	}
	if _, ok := m["progress"]; ok {
		if _, err := intField(m, "progress", true); err != nil {
			s.violation("cam_memorycard_synchronize_status reply for %s: %v", id, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.syncs == nil {
		s.syncs = map[string]*syncJob{}
	}
	if j := s.syncs[id]; j != nil && j.final == "" && st == "pending" {
		s.violationLocked("cam_memorycard_synchronize %s: pending again before the job's final status", id)
	}
	if st == "pending" {
		s.syncs[id] = &syncJob{statuses: []map[string]any{m}}
	}
	s.notifyLocked()
}

// syncStatus checks an unsolicited cam_memorycard_synchronize_status: a
// job that was answered pending, progress 0-100 never going back, status
// pending until exactly one final done, error or canceled.
func (c *simConn) syncStatus(m map[string]any) {
	s := c.s
	id, _ := m["request_id"].(string)
	st, _ := m["status"].(string)
	prog, err := intField(m, "progress", true)
	if err != nil || prog < 0 || prog > 100 {
		s.violation("cam_memorycard_synchronize_status %s: progress %v not 0-100 (%v)", id, m["progress"], err)
	}
	if st != "pending" && !slices.Contains(syncFinals, st) {
		s.violation("cam_memorycard_synchronize_status %s: status %v", id, m["status"])
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.syncs[id]
	switch {
	case j == nil:
		s.violationLocked("cam_memorycard_synchronize_status for %q, which was never answered pending", id)
		return
	case j.final != "":
		s.violationLocked("cam_memorycard_synchronize_status %s: %v after the final %s", id, st, j.final)
	case prog < j.progress:
		s.violationLocked("cam_memorycard_synchronize_status %s: progress went back from %d to %d", id, j.progress, prog)
	}
	j.statuses = append(j.statuses, m)
	j.progress = max(j.progress, prog)
	if slices.Contains(syncFinals, st) && j.final == "" {
		j.final = st
	}
	s.notifyLocked()
}

// SyncStatuses returns the statuses of sync job id: the pending reply,
// then the unsolicited ones; nil for a job never answered pending.
func (s *Server) SyncStatuses(id string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.syncs[id]; j != nil {
		return slices.Clone(j.statuses)
	}
	return nil
}

// SyncFinal is the final status of sync job id, "" while it has none.
func (s *Server) SyncFinal(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.syncs[id]; j != nil {
		return j.final
	}
	return ""
}

// SyncProgress is the progress values of job id's statuses, in order.
func (s *Server) SyncProgress(id string) []int64 {
	var out []int64
	for _, m := range s.SyncStatuses(id) {
		if n, ok := m["progress"].(json.Number); ok {
			v, _ := n.Int64()
			out = append(out, v)
		}
	}
	return out
}
