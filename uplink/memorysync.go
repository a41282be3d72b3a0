package uplink

// Command names of memory-card synchronization (docs/protocol.md#memory-card).
const (
	CmdCamMemorycardSynchronize       = "cam_memorycard_synchronize"
	CmdCamMemorycardSynchronizeStatus = "cam_memorycard_synchronize_status"
	CmdCamMemorycardSynchronizeCancel = "cam_memorycard_synchronize_cancel"
)

// Sync job statuses of cam_memorycard_synchronize_status. A job's
// statuses are pending until exactly one final done, error or canceled;
// too_many_requests refuses a job before it starts.
const (
	SyncPending         = "pending"
	SyncDone            = "done"
	SyncError           = "error"
	SyncCanceled        = "canceled"
	SyncTooManyRequests = "too_many_requests"
)

// CamMemorycardSynchronize is cam_memorycard_synchronize
// (docs/protocol.md#memory-card): upload the recording of [Start, End)
// to the cloud as record chunks, as job RequestID, after cancelling the
// jobs CancelRequests names.
type CamMemorycardSynchronize struct {
	Head
	RequestID string     `json:"request_id"`
	Start     PackedTime `json:"start"`
	End       PackedTime `json:"end"`
	// ExcludeOverlap asks to skip what the cloud has; it may be ignored.
	ExcludeOverlap bool     `json:"exclude_overlap,omitempty"`
	CancelRequests []string `json:"cancel_requests,omitempty"`
}

func (*CamMemorycardSynchronize) required() []string {
	return []string{"request_id", "start", "end"}
}

func (c *CamMemorycardSynchronize) validate() error {
	switch {
	case c.RequestID == "":
		return invalid("request_id", "empty")
	case !c.End.After(c.Start.Time):
		return invalid("end", "%s is not after start %s", c.End, c.Start)
	}
	return nil
}

// CamMemorycardSynchronizeCancel is cam_memorycard_synchronize_cancel
// (docs/protocol.md#memory-card): stop job RequestID.
type CamMemorycardSynchronizeCancel struct {
	Head
	RequestID string `json:"request_id"`
}

func (*CamMemorycardSynchronizeCancel) required() []string { return []string{"request_id"} }

func (*CamMemorycardSynchronizeCancel) validate() error { return nil }

// CamMemorycardSynchronizeStatus is the body of
// cam_memorycard_synchronize_status (docs/protocol.md#memory-card): the
// reply to cam_memorycard_synchronize, and unsolicited after it with the
// job's progress (0-100; absent in the reply).
type CamMemorycardSynchronizeStatus struct {
	RequestID string `json:"request_id"`
	Progress  *int   `json:"progress,omitempty"`
	Status    string `json:"status"`
}

// Cmd names the command of each synchronization type.
func (*CamMemorycardSynchronize) Cmd() string       { return CmdCamMemorycardSynchronize }
func (*CamMemorycardSynchronizeCancel) Cmd() string { return CmdCamMemorycardSynchronizeCancel }
func (CamMemorycardSynchronizeStatus) Cmd() string  { return CmdCamMemorycardSynchronizeStatus }
