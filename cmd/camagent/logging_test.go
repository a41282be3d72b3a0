package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestRingLoggerKeepsInfoBelowStderrLevel(t *testing.T) {
	var stderr bytes.Buffer
	log, ring := newRingLogger(&stderr, zapcore.WarnLevel)
	log.Info("starting")
	log.Warn("camera slow", zap.String("camera", "lobby"))
	log.Debug("chatter")
	got := string(ring.Text("lobby"))
	if !strings.Contains(got, `"msg":"starting"`) || !strings.Contains(got, `"msg":"camera slow"`) || strings.Contains(got, "chatter") {
		t.Errorf("ring holds:\n%s", got)
	}
	if strings.Contains(stderr.String(), "starting") || !strings.Contains(stderr.String(), "camera slow") {
		t.Errorf("stderr holds:\n%s", stderr.String())
	}
	// The warning is the same line in both.
	warn := got[strings.Index(got, "\n")+1:]
	if stderr.String() != warn {
		t.Errorf("stderr %q, ring %q", stderr.String(), warn)
	}
}

// TestRunUploadsItsLog: the daemon tees its log into the ring it hands
// the agent, so cam_get_log uploads main's own lines too, even those
// stderr's level hides.
func TestRunUploadsItsLog(t *testing.T) {
	cloud, cfg := startSims(t, "warn")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs bytes.Buffer
	stderr := &syncWriter{w: &logs}
	go func() { done <- run(ctx, []string{"run", "--config", cfg}, &bytes.Buffer{}, stderr) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("run did not stop")
		}
	}()
	wait, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	if err := cloud.WaitReady(wait, cloud.CamID()); err != nil {
		t.Fatalf("camera never registered: %v", err)
	}
	rep, err := cloud.Request(wait, cloud.CamID(), "cam_get_log", nil)
	if err != nil || rep["status"] != "OK" {
		t.Fatalf("cam_get_log: %v, %v", rep, err)
	}
	up, err := cloud.WaitUpload(wait, "log")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"msg":"starting"`, `"msg":"camera registered in cloud","camera":"lobby"`} {
		if !strings.Contains(string(up.Body), want) {
			t.Errorf("uploaded log lacks %s:\n%s", want, up.Body)
		}
	}
	if strings.Contains(string(up.Body), cloud.Secret()) {
		t.Error("the token's secret is in the uploaded log")
	}
	if v := cloud.Violations(); len(v) > 0 {
		t.Errorf("cloud saw protocol violations: %v", v)
	}
}
