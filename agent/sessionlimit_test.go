package agent

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/camagent/camagent/demo/rig"
	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/media/rtspsim"
)

// TestNoFreeSessionShownThenPlays: a camera whose only RTSP session a
// recorder holds answers 453; the status page says so in plain words
// instead of a generic failure while the agent keeps retrying, and the
// stream plays once the recorder lets go (issue 14 item 6).
func TestNoFreeSessionShownThenPlays(t *testing.T) {
	r, err := rig.Start(rig.Options{RTSP: rtspsim.Options{SessionLimit: 1}, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	ctx, stopRecorder := context.WithCancel(context.Background())
	recorderDone := make(chan struct{})
	go func() {
		defer close(recorderDone)
		src := media.SourceOptions{URL: r.RTSP.URL(), Username: rig.User, Password: rig.Password}
		_ = media.NewSource(src, media.NewStream(nil)).Run(ctx)
	}()
	t.Cleanup(func() {
		stopRecorder()
		<-recorderDone
	})
	waitFor(t, "the recorder's session", func() bool { return r.RTSP.Sessions() == 1 })

	_, statusURL := serveAgent(t, r, nil)

	const words = "camera has no free streaming sessions"
	waitFor(t, "the stream to fail for want of a session, in words, retried", func() bool {
		cs := cameraStatus(t, statusURL)
		if len(cs.Streams) == 0 || cs.Streams[0].RTSP != "failing" {
			return false
		}
		for _, p := range cs.Errors {
			if strings.Contains(p.What, words) && p.Count >= 2 {
				return true
			}
		}
		return false
	})

	stopRecorder()
	watchUntilPlaying(t, statusURL, 0, true)
}
