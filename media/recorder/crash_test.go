package recorder

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

const helperEnv = "RECORDER_TEST_HELPER_DIR"

// TestHelperProcess is the recording agent the crash test kills: it
// records the fixture in real time and prints how much video it has fed.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		return
	}
	r, err := Open(Options{Dir: dir, Stream: "main", SegmentLength: 2 * time.Second})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	start := time.Now()
	c := &cam{f: loadFixture(t), t0: start}
	for {
		u := c.next()
		time.Sleep(time.Until(start.Add(u.DTS)))
		r.Write(u)
		if u.Track.Codec.IsVideo() {
			fmt.Printf("fed %d\n", (u.DTS + frameDur).Milliseconds())
		}
	}
}

// kill -9 of a recording agent loses about the last second: after Open
// repairs what it left, every segment reads to the end and they hold
// all that was fed but the unwritten fragment.
func TestKillLosesAtMostASecond(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var fed time.Duration
	killed := false
	for sc.Scan() {
		ms, ok := strings.CutPrefix(sc.Text(), "fed ")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(ms)
		if err != nil {
			t.Fatal(err)
		}
		fed = time.Duration(n) * time.Millisecond
		// Mid-segment (segments are 2 s) and mid-fragment.
		if !killed && fed >= 5500*time.Millisecond {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatalf("helper ended before it was killed, fed %v", fed)
	}

	r := openT(t, Options{Dir: dir, Stream: "main"})
	defer r.Close()
	if st := r.Stats(); st.Repaired != 1 {
		t.Errorf("repaired %d segments, want the one being written", st.Repaired)
	}
	rec := checkSegments(t, r.Dir())
	loss := fed - rec
	t.Logf("fed %v, recorded %v: lost %d ms at kill -9", fed, rec, loss.Milliseconds())
	if loss > 1500*time.Millisecond || loss < 0 {
		t.Errorf("fed %v, recorded %v", fed, rec)
	}
	var sum time.Duration
	for _, s := range r.Segments() {
		sum += s.Duration
	}
	if sum != rec {
		t.Errorf("index holds %v, files %v", sum, rec)
	}
	if tl := r.Timeline(time.Time{}, time.Now().Add(time.Hour)); len(tl) != 1 {
		t.Errorf("timeline %+v, want one range", tl)
	}
}
