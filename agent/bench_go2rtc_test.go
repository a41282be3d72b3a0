//go:build bench

package agent

// The optional go2rtc row: with GO2RTC=/path/to/go2rtc, one go2rtc process
// pulls every camera (through its own tap, for the latency) and publishes
// each to the ingest over RTMP with its publish: section, the way it
// pushes to YouTube or Telegram, without transcoding. Build it outside
// this module (it is not a dependency), e.g. from
// github.com/AlexxIT/go2rtc@v1.9.14.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func go2rtcStreamName(k int) string { return fmt.Sprintf("g2r%02d", k+1) }

func isGo2rtcStream(s string) bool { return strings.HasPrefix(s, "g2r") }

// go2rtcConfig is the YAML for go2rtc: every listener off (none is needed
// to pull RTSP and push RTMP, and the defaults would collide between
// runs), one stream and one publish per camera.
func (b *benchRun) go2rtcConfig() string {
	var sb strings.Builder
	sb.WriteString("log: {level: warn}\napi: {listen: \"\"}\nrtsp: {listen: \"\"}\nrtmp: {listen: \"\"}\n" +
		"webrtc: {listen: \"\"}\nsrtp: {listen: \"\"}\nstreams:\n")
	for k := range b.n {
		fmt.Fprintf(&sb, "  %s: %q\n", go2rtcStreamName(k), b.cameraURL(k, b.g2rTaps[k]))
	}
	sb.WriteString("publish:\n")
	for k := range b.n {
		fmt.Fprintf(&sb, "  %s: %q\n", go2rtcStreamName(k),
			fmt.Sprintf("rtmp://%s/live/%s", b.ingest.Addr(), go2rtcStreamName(k)))
	}
	return sb.String()
}

// startGo2rtc starts go2rtc on its generated config and waits until every
// camera's publish carries video.
func (b *benchRun) startGo2rtc(ctx context.Context, dir string) *child {
	t := b.t
	cfg := filepath.Join(dir, "go2rtc.yaml")
	if err := os.WriteFile(cfg, []byte(b.go2rtcConfig()), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startChild(t, "go2rtc", filepath.Join(dir, "go2rtc.log"), nil, b.mode.go2rtc, "-config", cfg)
	if err := b.waitPublishing(ctx, isGo2rtcStream); err != nil {
		t.Fatalf("go2rtc does not deliver video to the ingest: %v\ngo2rtc log:\n%s", err, tail(c.log, 20))
	}
	return c
}
