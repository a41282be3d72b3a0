package onvif

import (
	"bytes"
	"errors"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/camagent/camagent/onvif/onvifsim"
)

func TestSnapshot(t *testing.T) {
	for _, tc := range []struct {
		name       string
		digest     bool
		pass       string
		wantErr    error
		wantAuthed []string
	}{
		{name: "plain", pass: testPass, wantAuthed: []string{AuthUsernameToken}},
		{name: "digest", digest: true, pass: testPass, wantAuthed: []string{AuthUsernameToken, AuthHTTPDigest}},
		{name: "digest wrong password", digest: true, pass: "wrong", wantErr: ErrUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := startSim(t, onvifsim.Options{RequireDigest: tc.digest})
			ctx := testCtx(t)
			// Learn the URI with the right password, fetch with tc.pass.
			good := newClient(t, sim.URL(), testUser, testPass, nil)
			if err := good.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			profiles, err := good.Profiles(ctx)
			if err != nil || len(profiles) == 0 {
				t.Fatalf("profiles %v, %v", profiles, err)
			}
			uri, err := good.SnapshotURI(ctx, profiles[0].Token)
			if err != nil {
				t.Fatal(err)
			}
			if got := good.AuthUsed(); !slices.Equal(got, tc.wantAuthed) && tc.wantErr == nil {
				t.Errorf("AuthUsed = %v, want %v", got, tc.wantAuthed)
			}
			c := newClient(t, sim.URL(), testUser, tc.pass, nil)
			data, err := c.Snapshot(ctx, uri)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Snapshot error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("not a JPEG: %v", err)
			}
			if cfg.Width != 320 || cfg.Height != 180 {
				t.Errorf("picture %dx%d, want 320x180", cfg.Width, cfg.Height)
			}
		})
	}
}

// TestSnapshotBasicAndMissing covers a snapshot server apart from ONVIF that
// only offers Basic, and a URI that does not exist.
func TestSnapshotBasicAndMissing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/snap.jpg" {
			http.NotFound(w, r)
			return
		}
		if u, p, ok := r.BasicAuth(); !ok || u != testUser || p != testPass {
			w.Header().Set("WWW-Authenticate", `Basic realm="cam"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte("jpeg bytes"))
	}))
	t.Cleanup(srv.Close)
	ctx := testCtx(t)
	c := newClient(t, srv.URL, testUser, testPass, nil)
	data, err := c.Snapshot(ctx, srv.URL+"/snap.jpg")
	if err != nil || string(data) != "jpeg bytes" {
		t.Fatalf("Snapshot = %q, %v", data, err)
	}
	if _, err := c.Snapshot(ctx, srv.URL+"/none.jpg"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("missing picture: error %v, want ErrUnsupported", err)
	}
	bad := newClient(t, srv.URL, testUser, "nope", nil)
	if _, err := bad.Snapshot(ctx, srv.URL+"/snap.jpg"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("wrong password: error %v, want ErrUnauthorized", err)
	}
}
