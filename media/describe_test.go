package media_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/media/rtspsim"
)

func TestDescribe(t *testing.T) {
	sim := startSim(t, rtspsim.Options{Username: "admin", Password: "s3cret"})
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := gone.Addr().String()
	gone.Close()

	for _, tc := range []struct {
		name, url, user, pass string
		want                  []media.TrackInfo
		wantErr               error
	}{
		{name: "fixture", url: sim.URL(), user: "admin", pass: "s3cret", want: []media.TrackInfo{
			{Kind: "video", Format: "H264", Codec: media.CodecH264, Width: 640, Height: 360},
			{Kind: "audio", Format: "MPEG-4 Audio", Codec: media.CodecAAC, SampleRate: 48000, Channels: 1},
		}},
		{name: "wrong password", url: sim.URL(), user: "admin", pass: "nope", wantErr: media.ErrUnauthorized},
		{name: "no credentials", url: sim.URL(), wantErr: media.ErrUnauthorized},
		{name: "unreachable", url: "rtsp://" + closedAddr + "/stream", wantErr: media.ErrUnreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := media.Describe(ctx, tc.url, tc.user, tc.pass)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("tracks %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("track %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}
