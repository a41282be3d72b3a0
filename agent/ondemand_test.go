package agent

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/demo/rig"
	"github.com/camagent/camagent/media/rtspsim"
	"github.com/camagent/camagent/onvif/onvifsim"
	"github.com/camagent/camagent/uplink"
)

// subStreamRig runs the agent against a camera with a main and a sub
// profile, each served by its own RTSP server, with pull settings set by
// pull. It returns the rig, the sub stream's server and the status URL.
func subStreamRig(t *testing.T, pull config.Pull) (*rig.Rig, *rtspsim.Server, string) {
	t.Helper()
	sub := rtspsim.New(rtspsim.Options{Username: rig.User, Password: rig.Password})
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	r, _, statusURL := runRig(t, rig.Options{
		ONVIF: func(o *onvifsim.Options) {
			main := o.Profiles[0]
			o.Profiles = append(o.Profiles, onvifsim.Profile{
				Token: "sub", Name: "Sub", Encoding: "H264", Width: 640, Height: 360,
				FrameRate: main.FrameRate, BitrateKbps: 512, GOP: main.GOP, H264Profile: "Main", AudioEncoding: "AAC",
				RTSPURL: sub.URL(),
			})
		},
		Config: func(c *config.Config) { c.Cameras[0].Pull = pull },
	})
	waitReady(t, r)
	return r, sub, statusURL
}

// cameraStatus reads the first camera of /status.json.
func cameraStatus(t *testing.T, statusURL string) CameraStatus {
	t.Helper()
	_, body := get(t, statusURL+"/status.json")
	var st Status
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("status.json: %v", err)
	}
	return st.Cameras[0]
}

// TestSubStreamPulledOnDemand: the main stream is kept warm, the sub
// stream holds no RTSP session on the camera until the cloud asks for it,
// and gives it back once the publish ended and the idle time passed.
func TestSubStreamPulledOnDemand(t *testing.T) {
	r, sub, statusURL := subStreamRig(t, config.Pull{Warm: config.PullWarmMain, IdleTimeout: time.Second})

	// The camera counts a session from its SETUP, which may still be on
	// its way when the cloud session is ready.
	waitFor(t, "the main stream's RTSP session (kept warm)", func() bool { return r.RTSP.Sessions() == 1 })
	if n := sub.Sessions(); n != 0 {
		t.Errorf("sub stream: %d RTSP sessions before anything asked for it, want 0", n)
	}
	cs := cameraStatus(t, statusURL)
	if len(cs.Streams) != 2 || cs.Streams[1].ID != "Sub" || cs.Streams[1].RTSP != "idle" {
		t.Fatalf("status streams = %+v, want Main and an idle Sub", cs.Streams)
	}
	waitFor(t, "the camera to show online with an idle sub stream", func() bool {
		return verdict(cameraStatus(t, statusURL))[1] == "online"
	})

	if rep := request(t, r, "stream_start", map[string]any{"stream_id": "Sub", "reason": "live"}); rep["status"] != "OK" {
		t.Fatalf("stream_start Sub: %v", rep)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.Ingest.WaitFrames(ctx, 10); err != nil {
		t.Fatalf("no sub stream video at the ingest: %v", err)
	}
	if n := sub.Sessions(); n != 1 {
		t.Errorf("sub stream while published: %d RTSP sessions, want 1", n)
	}
	if p := r.Ingest.Publishes(); len(p) != 1 || !strings.HasSuffix(p[0].Stream, "_Sub") || !p[0].FirstVideoKey {
		t.Errorf("publishes = %+v, want one of Sub starting at a key frame", p)
	}

	if rep := request(t, r, "stream_stop", map[string]any{"stream_id": "Sub", "reason": "live"}); rep["status"] != "OK" {
		t.Fatalf("stream_stop Sub: %v", rep)
	}
	waitFor(t, "the sub stream's RTSP session to be released", func() bool { return sub.Sessions() == 0 })
	if n := r.RTSP.Sessions(); n != 1 {
		t.Errorf("main stream after the sub stream stopped: %d RTSP sessions, want 1", n)
	}
	waitFor(t, "the status to show the sub stream idle again", func() bool {
		return cameraStatus(t, statusURL).Streams[1].RTSP == "idle"
	})

	// A second publish pulls it again.
	if rep := request(t, r, "stream_start", map[string]any{"stream_id": "Sub", "reason": "live"}); rep["status"] != "OK" {
		t.Fatalf("second stream_start Sub: %v", rep)
	}
	waitFor(t, "the sub stream pulled again", func() bool { return sub.Sessions() == 1 })
}

// TestNothingWarm: with pull.warm none the main stream is pulled only to
// register the camera (the cloud wants a camera that streams) and given
// back after the idle time.
func TestNothingWarm(t *testing.T) {
	r, sub, _ := subStreamRig(t, config.Pull{Warm: config.PullWarmNone, IdleTimeout: time.Second})
	waitFor(t, "the main stream's RTSP session to be released", func() bool { return r.RTSP.Sessions() == 0 })
	if n := sub.Sessions(); n != 0 {
		t.Errorf("sub stream: %d RTSP sessions, want 0", n)
	}
	if rep := request(t, r, "stream_start", map[string]any{"stream_id": "Main", "reason": "live"}); rep["status"] != "OK" {
		t.Fatalf("stream_start Main: %v", rep)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.Ingest.WaitFrames(ctx, 10); err != nil {
		t.Fatalf("no video at the ingest: %v", err)
	}
	if p := r.Ingest.Publishes(); len(p) != 1 || !p[0].FirstVideoKey {
		t.Errorf("publishes = %+v, want one starting at a key frame", p)
	}
}

// TestDeletedCameraLetsGoOfTheCamera: after bye DELETED the agent stops
// everything of that camera: its RTSP session and its event subscription
// end on the camera, and it does not connect to the cloud again.
func TestDeletedCameraLetsGoOfTheCamera(t *testing.T) {
	r, _, statusURL := runRig(t, rig.Options{})
	waitReady(t, r)
	waitFor(t, "an event subscription on the camera", func() bool { return r.ONVIF.Subscriptions() > 0 })
	waitFor(t, "the camera's RTSP session", func() bool { return r.RTSP.Sessions() == 1 })

	r.Cloud.Bye(uplink.ByeDeleted, 0)
	waitFor(t, "the RTSP session to close", func() bool { return r.RTSP.Sessions() == 0 })
	waitFor(t, "the event subscription to end", func() bool { return r.ONVIF.Subscriptions() == 0 })
	waitFor(t, "the status to say the camera was deleted", func() bool {
		cs := cameraStatus(t, statusURL)
		return len(cs.Errors) > 0 && strings.Contains(cs.Errors[0].What, "deleted from its cloud account")
	})
	resp, body := get(t, statusURL+"/readyz")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "demo: failed: cloud said bye DELETED") {
		t.Errorf("/readyz = %d %q, want 200 naming the deleted camera", resp.StatusCode, body)
	}
	if n := r.Cloud.Connections(); n != 1 {
		t.Errorf("%d connections to the cloud, want 1 (a deleted camera stays away)", n)
	}
}

// TestRefusedCameraGivesBackItsSessions: after bye AUTH_FAILURE the cloud
// takes the camera back only once someone fixed its token (the agent asks
// again in minutes): meanwhile the camera holds no RTSP session and no
// event subscription for nobody.
func TestRefusedCameraGivesBackItsSessions(t *testing.T) {
	r, _, statusURL := runRig(t, rig.Options{})
	waitReady(t, r)
	waitFor(t, "an event subscription on the camera", func() bool { return r.ONVIF.Subscriptions() > 0 })
	waitFor(t, "the camera's RTSP session", func() bool { return r.RTSP.Sessions() == 1 })

	r.Cloud.Bye(uplink.ByeAuthFailure, 0)
	waitFor(t, "the RTSP session to close", func() bool { return r.RTSP.Sessions() == 0 })
	waitFor(t, "the event subscription to end", func() bool { return r.ONVIF.Subscriptions() == 0 })
	resp, body := get(t, statusURL+"/readyz")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "demo: failed: ") || !strings.Contains(string(body), "AUTH_FAILURE") {
		t.Errorf("/readyz = %d %q, want 200 naming the refused camera", resp.StatusCode, body)
	}
}
