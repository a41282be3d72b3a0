//go:build browser

package agent

import (
	"testing"
	"time"
)

// TestBrowserPlaysDirectRecording: a segment pushed by direct-to-storage
// recording (the memory card's fragmented MP4 as it is on disk) plays in
// headless Chromium from start to end, with the length announced.
func TestBrowserPlaysDirectRecording(t *testing.T) {
	r, _, _ := directRig(t, t.TempDir(), true)
	waitReady(t, r)
	startDirect(t, r, false)
	waitLong(t, "a pushed segment", 2*directSegment+10*time.Second, func() bool { return len(r.Cloud.RecordUploads("Main")) > 0 })
	u := r.Cloud.RecordUploads("Main")[0]
	v := playMP4(t, u.Body, u.FileTime, u.Duration)
	t.Logf("segment of %v, %d bytes: played to %.3f s at %dx%d", u.Duration, len(u.Body), v.Time, v.Width, v.Height)
}
