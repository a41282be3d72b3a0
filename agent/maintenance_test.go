package agent

import (
	"bytes"
	"context"
	"image/jpeg"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/demo/rig"
	"github.com/camagent/camagent/onvif"
	"github.com/camagent/camagent/onvif/onvifsim"
	"github.com/camagent/camagent/uplink/cloudsim"
)

// waitRing waits until the agent's log ring holds a line of camera that
// contains want.
func waitRing(t *testing.T, a *Agent, camera, want string) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for !strings.Contains(string(a.opts.LogRing.Text(camera)), want) {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no log line with %s for camera %s:\n%s", want, camera, a.opts.LogRing.Text(camera))
		}
	}
}

func waitUpload(t *testing.T, r *rig.Rig, cat string) cloudsim.Upload {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	up, err := r.Cloud.WaitUpload(ctx, cat)
	if err != nil {
		t.Fatalf("no %s upload at the cloud: %v", cat, err)
	}
	return up
}

// TestGetLogUploadsTheCamerasLog: cam_get_log is answered done OK and the
// camera's log arrives at the cloud's legacy endpoint as text, with this
// camera's lines and the agent's, without another camera's lines and
// without secrets.
func TestGetLogUploadsTheCamerasLog(t *testing.T) {
	// A second camera whose cloud is gone: it logs failures under its name.
	yardCloud, err := cloudsim.New(cloudsim.Options{CamID: 777})
	if err != nil {
		t.Fatal(err)
	}
	if err := yardCloud.Start(); err != nil {
		t.Fatal(err)
	}
	yardToken := yardCloud.Token()
	yardCloud.Close()
	r, a, _ := runRig(t, rig.Options{Config: func(cfg *config.Config) {
		yard := cfg.Cameras[0]
		yard.Name, yard.Token = "yard", config.NewSecret(yardToken)
		cfg.Cameras = append(cfg.Cameras, yard)
	}})
	waitReady(t, r)
	waitRing(t, a, "yard", `"camera":"yard"`)

	if rep := request(t, r, "cam_get_log", nil); rep["cmd"] != "done" || rep["status"] != "OK" {
		t.Fatalf("cam_get_log reply %v", rep)
	}
	up := waitUpload(t, r, "log")
	body := string(up.Body)
	if up.Type != "txt" || !strings.HasPrefix(up.ContentType, "text/plain") {
		t.Errorf("log uploaded as type %s, content type %q", up.Type, up.ContentType)
	}
	for _, want := range []string{`"msg":"camera registered in cloud","camera":"demo"`, `"msg":"running"`} {
		if !strings.Contains(body, want) {
			t.Errorf("uploaded log lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, `"camera":"yard"`) {
		t.Errorf("uploaded log holds the other camera's lines:\n%s", body)
	}
	for name, secret := range map[string]string{"token": r.Cloud.Token(), "channel secret": r.Cloud.Secret(),
		"camera password": rig.Password, "other camera's token": yardToken} {
		if strings.Contains(body, secret) {
			t.Errorf("the %s is in the uploaded log", name)
		}
	}
	if time.Since(up.Start) > time.Minute || time.Until(up.Start) > time.Second {
		t.Errorf("log start %v is not about now", up.Start)
	}

	// A refused upload is logged with its HTTP status.
	waitRing(t, a, "demo", `"msg":"uploaded","camera":"demo","cat":"log"`)
	r.Cloud.FailUploads(http.StatusInsufficientStorage)
	if rep := request(t, r, "cam_get_log", nil); rep["status"] != "OK" {
		t.Fatalf("second cam_get_log reply %v", rep)
	}
	waitRing(t, a, "demo", `"msg":"cloud refused the upload","camera":"demo","cat":"log","http_status":507`)
	if v := r.Cloud.Violations(); len(v) > 0 {
		t.Errorf("cloud saw protocol violations: %v", v)
	}
}

// TestUpdatePreviewUploadsTheCamerasPicture: cam_update_preview is
// answered done OK and the camera's own ONVIF snapshot arrives as the
// preview JPEG.
func TestUpdatePreviewUploadsTheCamerasPicture(t *testing.T) {
	r, _, _ := runRig(t, rig.Options{})
	waitReady(t, r)
	if rep := request(t, r, "cam_update_preview", nil); rep["cmd"] != "done" || rep["status"] != "OK" {
		t.Fatalf("cam_update_preview reply %v", rep)
	}
	up := waitUpload(t, r, "preview")
	if up.Type != "jpg" || up.ContentType != "image/jpeg" {
		t.Errorf("preview uploaded as type %s, content type %q", up.Type, up.ContentType)
	}
	if _, err := jpeg.DecodeConfig(bytes.NewReader(up.Body)); err != nil {
		t.Errorf("preview is not a JPEG: %v", err)
	}
	if want := cameraSnapshot(t, r); !bytes.Equal(up.Body, want) {
		t.Errorf("preview (%d bytes) is not the camera's snapshot (%d bytes)", len(up.Body), len(want))
	}
	if v := r.Cloud.Violations(); len(v) > 0 {
		t.Errorf("cloud saw protocol violations: %v", v)
	}
}

// cameraSnapshot fetches the simulated camera's picture the way an ONVIF
// client does.
func cameraSnapshot(t *testing.T, r *rig.Rig) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := onvif.New(onvif.Options{URL: r.ONVIF.URL(), Username: rig.User, Password: rig.Password, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	profiles, err := c.Profiles(ctx)
	if err != nil || len(profiles) == 0 {
		t.Fatalf("profiles %v, %v", profiles, err)
	}
	uri, err := c.SnapshotURI(ctx, profiles[0].Token)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Snapshot(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPreviewWithoutPicture: a camera that gives no picture gets ERROR,
// and nothing is uploaded.
func TestPreviewWithoutPicture(t *testing.T) {
	r, a, _ := runRig(t, rig.Options{ONVIF: func(o *onvifsim.Options) {
		o.SnapshotURL = "http://127.0.0.1:1/snapshot.jpg" // nothing listens there
	}})
	waitReady(t, r)
	if rep := request(t, r, "cam_update_preview", nil); rep["status"] != "ERROR" {
		t.Fatalf("cam_update_preview without a picture: %v", rep)
	}
	waitRing(t, a, "demo", `"msg":"no picture for the cloud preview"`)
	if n := len(r.Cloud.Uploads()); n != 0 {
		t.Errorf("%d uploads without a picture", n)
	}
}

// TestLegacyUploadsWithoutUploadURI: a cloud that names no upload endpoint
// in hello gets done ERROR for both commands, and the agent says why.
func TestLegacyUploadsWithoutUploadURI(t *testing.T) {
	r, a, _ := runRig(t, rig.Options{NoUploads: true})
	waitReady(t, r)
	for _, cmd := range []string{"cam_get_log", "cam_update_preview"} {
		if rep := request(t, r, cmd, nil); rep["cmd"] != "done" || rep["status"] != "ERROR" {
			t.Errorf("%s without upload_uri: %v", cmd, rep)
		}
	}
	waitRing(t, a, "demo", `"msg":"cloud asked for the log, but it cannot be uploaded","camera":"demo","error":"cloud sent no upload uri"`)
	waitRing(t, a, "demo", `"msg":"cloud asked for a preview, but it cannot be uploaded"`)
	if v := r.Cloud.Violations(); len(v) > 0 {
		t.Errorf("cloud saw protocol violations: %v", v)
	}
}

// TestLegacyUploadsOneAtATime: while a camera's preview upload is in
// flight another preview is refused with ERROR (docs/protocol.md#cam-update-preview) and another log
// with RETRY (docs/protocol.md#done); once they finished, the next request is served.
func TestLegacyUploadsOneAtATime(t *testing.T) {
	r, a, _ := runRig(t, rig.Options{})
	waitReady(t, r)
	release := r.Cloud.HoldUploads()
	defer release()
	for _, cmd := range []string{"cam_update_preview", "cam_get_log"} {
		if rep := request(t, r, cmd, nil); rep["status"] != "OK" {
			t.Fatalf("%s: %v", cmd, rep)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.Cloud.Wait(ctx, func() bool { return r.Cloud.UploadsHeld() == 2 }); err != nil {
		t.Fatalf("uploads never reached the cloud: %v", err)
	}
	if rep := request(t, r, "cam_update_preview", nil); rep["status"] != "ERROR" {
		t.Errorf("preview while one is uploading: %v", rep)
	}
	if rep := request(t, r, "cam_get_log", nil); rep["status"] != "RETRY" {
		t.Errorf("log while one is uploading: %v", rep)
	}
	release()
	waitUpload(t, r, "preview")
	waitUpload(t, r, "log")
	waitRing(t, a, "demo", `"msg":"uploaded","camera":"demo","cat":"preview"`)
	if rep := request(t, r, "cam_update_preview", nil); rep["status"] != "OK" {
		t.Fatalf("preview after the first finished: %v", rep)
	}
	waitUpload(t, r, "preview")
	if n := len(r.Cloud.Uploads()); n != 3 {
		t.Errorf("%d uploads, want 3", n)
	}
	if v := r.Cloud.Violations(); len(v) > 0 {
		t.Errorf("cloud saw protocol violations: %v", v)
	}
}
