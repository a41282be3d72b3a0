package media_test

import (
	"context"
	"os"
	"testing"

	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/media/rtspsim"
)

// BenchmarkSource1080p pulls the 1080p25 ~4 Mbit/s variant through RTSP,
// the Source and the Stream into one reader, and reports allocations per
// video frame on the whole path, the in-process simulator's sending
// included. The camera is paced in real time,
// so use a fixed count: go test -run X -bench Source1080p -benchtime 100x.
// The input is generated, not committed: testdata/make-fixture.sh bench.
func BenchmarkSource1080p(b *testing.B) {
	const video, audio = "testdata/gen/bench.h264", "testdata/gen/bench.aac"
	if _, err := os.Stat(video); err != nil {
		b.Fatalf("no 1080p input (%v): run media/testdata/make-fixture.sh bench (make bench does)", err)
	}
	sim := rtspsim.New(rtspsim.Options{VideoFile: video, AudioFile: audio})
	if err := sim.Start(); err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	st := media.NewStream(nil)
	r := st.AddReader("bench", 1024)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- media.NewSource(media.SourceOptions{URL: sim.URL()}, st).Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	if _, err := r.Read(ctx); err != nil { // connected, at a key frame
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; {
		u, err := r.Read(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if u.Track.Codec.IsVideo() {
			n++
		}
	}
	b.StopTimer()
	b.ReportMetric(st.Stats().Kbps, "kbit/s")
}
