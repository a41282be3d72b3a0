package uplink

import "encoding/json"

// Command names of the memory card (docs/protocol.md#memory-card).
const (
	CmdGetCamMemorycardTimeline = "get_cam_memorycard_timeline"
	CmdCamMemorycardTimeline    = "cam_memorycard_timeline"
	CmdCamMemorycardRecording   = "cam_memorycard_recording"
	CmdCamFormatMemorycard      = "cam_format_memorycard"
)

// GetCamMemorycardTimeline is get_cam_memorycard_timeline
// (docs/protocol.md#memory-card): the recorded ranges within [Start, End).
type GetCamMemorycardTimeline struct {
	Head
	RequestID string     `json:"request_id"`
	Start     PackedTime `json:"start"`
	End       PackedTime `json:"end"`
}

func (*GetCamMemorycardTimeline) required() []string {
	return []string{"request_id", "start", "end"}
}

func (g *GetCamMemorycardTimeline) validate() error {
	if g.End.Before(g.Start.Time) {
		return invalid("end", "%s is before start %s", g.End, g.Start)
	}
	return nil
}

// CamMemorycardRecording is cam_memorycard_recording
// (docs/protocol.md#memory-card): continuous local recording of StreamID
// on or off.
type CamMemorycardRecording struct {
	Head
	StreamID string `json:"stream_id"`
	Enabled  bool   `json:"enabled"`
}

func (*CamMemorycardRecording) required() []string { return []string{"stream_id", "enabled"} }

func (c *CamMemorycardRecording) validate() error {
	if c.StreamID == "" {
		return invalid("stream_id", "empty")
	}
	return nil
}

// CamFormatMemorycard is cam_format_memorycard (docs/protocol.md#memory-card),
// legacy and without a payload: delete the camera's recordings.
type CamFormatMemorycard struct{ Head }

// TimeRange is one continuous recorded range of cam_memorycard_timeline.
type TimeRange struct {
	Start PackedTime `json:"start"`
	End   PackedTime `json:"end"`
}

// CamMemorycardTimeline is the body of cam_memorycard_timeline
// (docs/protocol.md#memory-card): the request's id and interval echoed,
// Data the merged recorded ranges inside it, [] when none.
type CamMemorycardTimeline struct {
	RequestID string      `json:"request_id"`
	Start     PackedTime  `json:"start"`
	End       PackedTime  `json:"end"`
	Data      []TimeRange `json:"data"`
}

// MarshalJSON sends an empty list as [].
func (c CamMemorycardTimeline) MarshalJSON() ([]byte, error) {
	type plain CamMemorycardTimeline
	p := plain(c)
	p.Data = nonNil(p.Data)
	return json.Marshal(p)
}

// Cmd names the command of each memory-card type.
func (*GetCamMemorycardTimeline) Cmd() string { return CmdGetCamMemorycardTimeline }
func (*CamMemorycardRecording) Cmd() string   { return CmdCamMemorycardRecording }
func (*CamFormatMemorycard) Cmd() string      { return CmdCamFormatMemorycard }
func (CamMemorycardTimeline) Cmd() string     { return CmdCamMemorycardTimeline }
