package spool

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
)

// drainAll delivers everything s holds with one worker and returns the
// payloads by ID.
func drainAll(t *testing.T, s *Spool) map[string]string {
	t.Helper()
	n := s.Stats().Items
	calls, stop := run(t, s)
	got := map[string]string{}
	for range n {
		d := <-calls
		got[d.it.ID] = d.payload
		d.reply <- nil
	}
	stop()
	return got
}

func writeFile(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Open finds exactly the complete items; leftovers of interrupted Puts are
// removed quietly, damaged items removed and counted.
func TestOpenRecoversCompleteItems(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	s := open(t, Options{Dir: dir})
	want := map[string]string{}
	for i, c := range []Class{ClassEvent, ClassClip, ClassPreview, ClassOther, ClassEvent} {
		it := put(t, s, c, base.Add(time.Duration(i)*time.Second), strings.Repeat(strconv.Itoa(i), 100+i))
		want[it.ID] = strings.Repeat(strconv.Itoa(i), 100+i)
	}
	empty := put(t, s, ClassEvent, base, "")
	want[empty.ID] = ""
	truncated := put(t, s, ClassClip, base, "truncated meta")
	noData := put(t, s, ClassPreview, base, "meta without data")
	shortData := put(t, s, ClassOther, base, "data shorter than recorded")
	s.Close()

	p := func(id, suffix string) string { return filepath.Join(dir, id+suffix) }
	meta, err := os.ReadFile(p(truncated.ID, metaSuffix))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, p(truncated.ID, metaSuffix), meta[:len(meta)/2])
	os.Remove(p(noData.ID, dataSuffix))
	writeFile(t, p(shortData.ID, dataSuffix), []byte("data"))
	// Crash leftovers: temp record, payload whose record never landed.
	writeFile(t, p("00000000000000aa", metaSuffix+tmpSuffix), meta)
	writeFile(t, p("00000000000000ab", dataSuffix), []byte("orphan"))
	writeFile(t, filepath.Join(dir, "README"), []byte("not ours"))

	s2 := open(t, Options{Dir: dir})
	st := s2.Stats()
	if st.Items != len(want) || st.Dropped[reasonCorrupt] != 3 || st.ByClass[ClassEvent] != 3 {
		t.Errorf("stats after open: %+v", st)
	}
	var wantFiles []string
	for id, payload := range want {
		wantFiles = append(wantFiles, id+metaSuffix)
		if payload != "" {
			wantFiles = append(wantFiles, id+dataSuffix)
		}
	}
	wantFiles = append(wantFiles, "README")
	slices.Sort(wantFiles)
	if got := files(t, dir); !slices.Equal(got, wantFiles) {
		t.Errorf("files after open\n got %v\nwant %v", got, wantFiles)
	}
	if got := drainAll(t, s2); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("delivered after open\n got %v\nwant %v", got, want)
	}
	// New IDs keep sorting after recovered ones.
	if it := put(t, s2, ClassEvent, base, "new"); it.ID <= noData.ID {
		t.Errorf("new id %s not after %s", it.ID, noData.ID)
	}
}

// A payload damaged on disk, same size, fails its checksum while being
// read: the delivery sees an error and the item is dropped as corrupt.
func TestDamagedPayloadIsNotDelivered(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	s := open(t, Options{Dir: dir})
	it := put(t, s, ClassClip, base, "abcdef")
	s.Close()
	writeFile(t, filepath.Join(dir, it.ID+dataSuffix), []byte("abcdeX"))
	s2 := open(t, Options{Dir: dir})
	outcomes := booked(s2)
	calls, _ := run(t, s2) // its deliver returns io.ReadAll's error
	select {
	case d := <-calls:
		t.Fatalf("delivered damaged payload %q", d.payload)
	case err := <-outcomes:
		if !errors.Is(err, errCorrupt) {
			t.Errorf("outcome %v", err)
		}
	}
	if st := s2.Stats(); st.Items != 0 || st.Dropped[reasonCorrupt] != 1 || st.Uploaded != 0 {
		t.Errorf("stats: %+v", st)
	}
}

// crashEnv tells TestCrashHelper where to work and when to die.
const crashEnv = "SPOOL_CRASH_TEST"

func crashPayload(i int) string { return strings.Repeat(string(rune('a'+i%26)), 4000+i) }

// TestCrashHelper is the child of the crash tests: it puts items, printing
// each ID once Put returned, and SIGKILLs itself at the hook point named in
// crashEnv ("dir,put,point") or runs until killed.
func TestCrashHelper(t *testing.T) {
	spec := os.Getenv(crashEnv)
	if spec == "" {
		return // run as a normal test: nothing to do
	}
	parts := strings.Split(spec, ",")
	dir, point := parts[0], parts[2]
	killAt, _ := strconv.Atoi(parts[1])
	s, err := Open(Options{Dir: dir, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	s.testHook = func(p string) {
		if i == killAt && p == point {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
	for ; ; i++ {
		it, err := s.Put(Item{Class: Class(i % numClasses), Created: time.Now(), Meta: []byte(strconv.Itoa(i))}, []byte(crashPayload(i)))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("put %s %d\n", it.ID, i)
	}
}

// crashChild starts the helper and returns what it acknowledged, by ID,
// once kill (if set) has run after the acks'th acknowledgement and the
// process is gone.
func crashChild(t *testing.T, spec string, acks int, kill bool) map[string]int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+spec)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]int{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var id string
		var i int
		if _, err := fmt.Sscanf(sc.Text(), "put %s %d", &id, &i); err != nil {
			continue // the test framework's own lines
		}
		acked[id] = i
		if kill && len(acked) == acks {
			// The child may finish a few more Puts before the signal
			// lands; the scan goes on to read their acknowledgements.
			cmd.Process.Signal(syscall.SIGKILL)
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL", err)
	}
	return acked
}

// checkRecovered opens dir and checks that it holds every acknowledged
// item with its payload, at most extra more, and nothing corrupt.
func checkRecovered(t *testing.T, dir string, acked map[string]int, extra int) {
	t.Helper()
	s := open(t, Options{Dir: dir, MaxAge: map[Class]time.Duration{ClassClip: time.Hour}})
	st := s.Stats()
	if st.Dropped[reasonCorrupt] != 0 {
		t.Errorf("corrupt items after crash: %v", st.Dropped)
	}
	got := drainAll(t, s)
	for id, i := range acked {
		if p, ok := got[id]; !ok || p != crashPayload(i) {
			t.Errorf("acknowledged item %s (%d) lost or damaged (present %v, %d bytes)", id, i, ok, len(p))
		}
	}
	if n := len(got) - len(acked); n < 0 || n > extra {
		t.Errorf("recovered %d items, acknowledged %d", len(got), len(acked))
	}
	if names := files(t, dir); len(names) != 0 {
		t.Errorf("files left after delivering all: %v", names)
	}
}

// kill -9 at the worst moments of Put: a Put that did not return leaves
// nothing, every one that returned survives.
func TestCrashDuringPut(t *testing.T) {
	for _, point := range []string{"mid-write", "before-rename"} {
		t.Run(point, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "spool")
			acked := crashChild(t, dir+",5,"+point, 0, false)
			if len(acked) != 5 {
				t.Fatalf("child acknowledged %d puts before dying, want 5", len(acked))
			}
			checkRecovered(t, dir, acked, 0)
		})
	}
}

// kill -9 from outside at whatever moment: the item being put may or may
// not be there, complete; every acknowledged one is.
func TestKilledWhilePutting(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	acked := crashChild(t, dir+",-1,none", 20, true)
	checkRecovered(t, dir, acked, 1)
}
