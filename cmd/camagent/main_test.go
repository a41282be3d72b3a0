package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/media/rtspsim"
	"github.com/camagent/camagent/uplink/cloudsim"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "camagent.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// specToken is the access token of the spec's first vector (docs/protocol.md#token).
const specToken = "eyJ0b2tlbiI6ICJzaGFyZS5leUp6YVNJNklEUTBORFEwZlEuNWYxZTJkM2N0YmMxZmFiMDAuWHk3X2V4YW1wbGUtU2lHbkF0VXJFX3ExIiwgImNhbWlkIjogMzEwMDQyLCAiY21uZ3JpZCI6IDMxMDA3NywgImFjY2VzcyI6ICJhbGwiLCAiYXBpIjogIndlYi52bXMuZXhhbXBsZS5uZXQiLCAiY2FtIjogImNhbS52bXMuZXhhbXBsZS5uZXQifQ=="

func TestCheck(t *testing.T) {
	good := writeConfig(t, `state_dir: /tmp/x
cameras:
  - name: lobby
    token: `+specToken+`
    rtsp: rtsp://127.0.0.1:8554/stream
`)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"check", "--config", good}, &out, &out); err != nil {
		t.Fatalf("good config refused: %v", err)
	}
	if !strings.Contains(out.String(), "config ok: 1 camera") {
		t.Errorf("check printed %q", out.String())
	}
	bad := writeConfig(t, `log: {level: verbose}
cameras:
  - name: lobby
    token: abc
    rtsp: rtsp://127.0.0.1:8554/stream
`)
	err := run(context.Background(), []string{"check", "--config", bad}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "log.level") {
		t.Errorf("bad level: got %v, want an error naming log.level", err)
	}
	// A token that does not decode would stop `run`: check says so first.
	badToken := writeConfig(t, `cameras:
  - name: lobby
    token: not-a-token
    rtsp: rtsp://127.0.0.1:8554/stream
`)
	err = run(context.Background(), []string{"check", "--config", badToken}, &out, &out)
	// It says what a token is, not what the decoder tripped over, and
	// leaves naming the camera to the key path.
	if want := ":3: cameras[0].token: not a VXG camera access token: expected base64-encoded JSON with token, camid"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("bad token: got %v, want %q", err, want)
	}
	if err != nil && (strings.Contains(err.Error(), "lobby") || strings.Contains(err.Error(), "base64:")) {
		t.Errorf("bad token: %v repeats the camera name or shows decoder internals", err)
	}
	// Every bad token is named at once, and a token pasted twice is one.
	twoBad := writeConfig(t, `cameras:
  - name: lobby
    token: not-a-token
    rtsp: rtsp://127.0.0.1:8554/stream
  - name: yard
    token: `+specToken+`
    rtsp: rtsp://127.0.0.1:8554/stream
  - name: gate
    token: also-not-a-token
    rtsp: rtsp://127.0.0.1:8554/stream
  - name: door
    token: `+specToken+`
    rtsp: rtsp://127.0.0.1:8554/stream
`)
	err = run(context.Background(), []string{"check", "--config", twoBad}, &out, &out)
	for _, want := range []string{":3: cameras[0].token", ":9: cameras[2].token",
		`:12: cameras[3].token: is the same as cameras[1].token ("yard"); each camera needs its own`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad tokens: got %v, want it to contain %q", err, want)
		}
	}
	if err != nil && (strings.Contains(err.Error(), specToken) || strings.Contains(err.Error(), "share.")) {
		t.Errorf("the error quotes the token: %v", err)
	}
	// A type error, a bad name and a bad token: all in one run, in the
	// order of the file.
	many := writeConfig(t, `cameras:
  - name: lobby cam
    token: not-a-token
    onvif: {url: "http://h/", timeout: 10}
`)
	err = run(context.Background(), []string{"check", "--config", many}, &out, &out)
	var lines []string
	for _, fe := range config.FieldErrors(err) {
		lines = append(lines, fmt.Sprintf("%d %s", fe.Line, fe.Path))
	}
	if want := []string{"2 cameras[0].name", "3 cameras[0].token", "4 cameras[0].onvif.timeout"}; !slices.Equal(lines, want) {
		t.Errorf("check reported %q, want %q\n%v", lines, want, err)
	}
	if err := run(context.Background(), []string{"check", "--nope"}, &out, &out); !isUsage(err) {
		t.Errorf("bad flag: got %v, want a usage error", err)
	}
	if err := run(context.Background(), []string{"frobnicate"}, &out, &out); !isUsage(err) {
		t.Errorf("unknown command: got %v, want a usage error", err)
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "camagent "+version) {
		t.Errorf("version printed %q", out.String())
	}
}

// TestRunStopsCleanly runs the daemon against a simulated camera and cloud
// and stops it as SIGTERM would: the cloud must get bye SHUTDOWN and a
// normal close, and run must return promptly with no error.
func TestRunStopsCleanly(t *testing.T) {
	cloud, cfg := startSims(t, "error")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() { done <- run(ctx, []string{"run", "--config", cfg}, &logs, &syncWriter{w: &logs}) }()
	wait, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	if err := cloud.WaitReady(wait, cloud.CamID()); err != nil {
		t.Fatalf("camera never registered: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after stop", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop within 5 s")
	}
	if err := cloud.Wait(wait, func() bool { return len(cloud.CloseCodes()) > 0 }); err != nil {
		t.Fatal(err)
	}
	if byes := cloud.Byes(); len(byes) != 1 || byes[0] != "SHUTDOWN" {
		t.Errorf("cloud got byes %v, want [SHUTDOWN]", byes)
	}
	if codes := cloud.CloseCodes(); codes[0] != 1000 {
		t.Errorf("close code %v, want 1000", codes)
	}
}

// startSims starts a simulated camera and cloud (with its legacy upload
// endpoint) for the daemon and writes a config for them with the given log
// level; both stop when the test ends.
func startSims(t *testing.T, level string) (*cloudsim.Server, string) {
	t.Helper()
	cam := rtspsim.New(rtspsim.Options{})
	if err := cam.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cam.Close)
	cloud, err := cloudsim.New(cloudsim.Options{MediaServer: "127.0.0.1:1", Uploads: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := cloud.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cloud.Close)
	cfg := writeConfig(t, fmt.Sprintf(`state_dir: %q
log: {level: %s}
http: {listen: "127.0.0.1:0"}
cloud: {insecure: true}
cameras:
  - name: lobby
    token: %q
    rtsp: %q
`, t.TempDir(), level, cloud.Token(), cam.URL()))
	return cloud, cfg
}

// TestMain lets a test run the real main (exit codes included) in a child
// process: the test binary re-runs itself with CAMAGENT_TEST_MAIN set (to
// "" for a bare camagent).
func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv("CAMAGENT_TEST_MAIN"); ok {
		os.Args = append([]string{"camagent"}, strings.Fields(args)...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A config that cannot be used ends `run` with EX_CONFIG (78), which the
// unit's RestartPreventExitStatus keeps from restarting in a loop; other
// failures keep exit code 1, usage mistakes 2.
func TestRunExitCodes(t *testing.T) {
	broken := writeConfig(t, "cameras: [\n")
	badToken := writeConfig(t, "cameras:\n  - {name: lobby, token: not-a-token, rtsp: \"rtsp://127.0.0.1:1/s\"}\n")
	// One run names every problem: the decoder's, Validate's and the token.
	manyProblems := writeConfig(t, "log: {level: loud}\ncameras:\n  - {name: lobby cam, token: not-a-token, rtsp: \"ftp://h/s\"}\n")
	stateFile := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(stateFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	stateUnderFile := writeConfig(t, fmt.Sprintf("state_dir: %q\ncameras:\n  - {name: lobby, token: %s, rtsp: \"rtsp://127.0.0.1:1/s\"}\n",
		filepath.Join(stateFile, "state"), specToken))
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	portTaken := writeConfig(t, fmt.Sprintf("state_dir: %q\nhttp: {listen: %q}\ncameras:\n  - {name: lobby, token: %s, rtsp: \"rtsp://127.0.0.1:1/s\"}\n",
		t.TempDir(), busy.Addr().String(), specToken))
	for _, tc := range []struct {
		name, args string
		code       int
		stderr     string
	}{
		{"broken yaml", "run --config " + broken, exitConfig, "config refused, not starting"},
		{"bad token", "run --config " + badToken, exitConfig, "cameras[0].token: not a VXG camera access token"},
		{"every problem at once", "run --config " + manyProblems, exitConfig,
			":1: log.level: \"loud\" is not one of debug, info, warn, error\n" + manyProblems +
				":3: cameras[0].name: \"lobby cam\" must be 1-64 characters of A-Z a-z 0-9 _ -\n" + manyProblems +
				":3: cameras[0].rtsp: \"ftp://h/s\" must use scheme rtsp or rtsps\n" + manyProblems +
				":3: cameras[0].token: not a VXG camera access token"},
		{"state dir cannot be made", "run --config " + stateUnderFile, exitConfig, "state_dir"},
		{"missing file", "run --config " + filepath.Join(t.TempDir(), "nope.yaml"), exitConfig, "nope.yaml"},
		{"status page port taken", "run --config " + portTaken, 1, "http.listen"},
		{"usage", "run --bogus", 2, "usage"},
		// Earlier versions had `camagent demo`: point at its new home.
		{"demo moved", "demo --duration 10s", 2, "run camagent-demo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runMain(t, tc.args)
			if code != tc.code {
				t.Fatalf("exit code %d, want %d; stderr: %s", code, tc.code, stderr)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr %q lacks %q", stderr, tc.stderr)
			}
			// A config that is refused never got as far as a start.
			if tc.code == exitConfig && strings.Contains(stderr, `"msg":"starting"`) {
				t.Errorf("logged a start before refusing the config:\n%s", stderr)
			}
		})
	}
}

// runMain runs the real main with args (split at spaces) in a child
// process and returns its exit code and output.
func runMain(t *testing.T, args string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CAMAGENT_TEST_MAIN="+args)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("camagent %s: %v", args, err)
	}
	return code, out.String(), errOut.String()
}
