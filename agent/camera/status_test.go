package camera

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink"
)

// TestPullState: only video from the running pull counts, a pull that
// has not delivered video for stallAfter is stalled, and a session that
// failed after the last video is failing until video comes again.
func TestPullState(t *testing.T) {
	now := time.Now()
	started := now.Add(-time.Minute)
	failed := errors.New("rtsp session ended")
	for _, c := range []struct {
		name      string
		s         streamState
		lastVideo time.Time
		want      PullState
	}{
		{"not pulled", streamState{}, now, PullIdle},
		{"no video yet", streamState{pulling: true, pullStarted: started}, time.Time{}, PullConnecting},
		{"video of an earlier pull", streamState{pulling: true, pullStarted: started}, started.Add(-time.Second), PullConnecting},
		{"first frame just came", streamState{pulling: true, pullStarted: now.Add(-50 * time.Millisecond)}, now, PullPlaying},
		{"video 1 s ago (1 frame/s)", streamState{pulling: true, pullStarted: started}, now.Add(-time.Second), PullPlaying},
		{"no video for longer", streamState{pulling: true, pullStarted: started}, now.Add(-stallAfter), PullStalled},
		{"session failed after the video", streamState{pulling: true, pullStarted: started, err: failed, errAt: now.Add(-time.Second)}, now.Add(-2 * time.Second), PullFailing},
		{"session failed before any video", streamState{pulling: true, pullStarted: started, err: failed, errAt: started.Add(time.Second)}, time.Time{}, PullFailing},
		{"video again after the failure", streamState{pulling: true, pullStarted: started, err: failed, errAt: now.Add(-time.Second)}, now, PullPlaying},
		{"failure of an earlier pull", streamState{pulling: true, pullStarted: started, err: failed, errAt: started.Add(-time.Second)}, time.Time{}, PullConnecting},
	} {
		if got := pullState(&c.s, c.lastVideo, now); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestRecordEachProblemOnce: a problem that comes back while others
// happen in between stays one entry, moved to the front and counted from
// its first time; a Status published before keeps its list.
func TestRecordEachProblemOnce(t *testing.T) {
	var st state
	t0 := time.Now()
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	st.record(Problem{What: "rtsp", Detail: "refused 1", At: at(0)})
	st.record(Problem{What: "cloud", At: at(1)})
	published := st.problems
	st.record(Problem{What: "rtsp", Detail: "refused 2", At: at(2)})
	if len(st.problems) != 2 {
		t.Fatalf("problems %+v, want rtsp and cloud once each", st.problems)
	}
	if p := st.problems[0]; p.What != "rtsp" || p.Count != 2 || !p.First.Equal(at(0)) || !p.At.Equal(at(2)) || p.Detail != "refused 2" {
		t.Errorf("latest problem %+v, want rtsp twice since %v, the latest detail", p, at(0))
	}
	if published[0].What != "cloud" || published[1].Count != 1 {
		t.Errorf("a published list changed: %+v", published)
	}
	for i := range 2 * maxProblems {
		st.record(Problem{What: string(rune('a' + i)), At: at(3 + i)})
	}
	if len(st.problems) != maxProblems {
		t.Errorf("%d problems kept, want %d", len(st.problems), maxProblems)
	}
}

// TestCloudEndWords: how a cloud connection ended is named by its type,
// with what to check; a bye RECONNECT is no problem.
func TestCloudEndWords(t *testing.T) {
	for _, c := range []struct {
		name    string
		end     uplink.End
		words   string
		problem bool
	}{
		{"reconnect", uplink.End{Bye: &uplink.Bye{Reason: uplink.ByeReconnect}}, "cloud asked the camera to reconnect", false},
		{"token", uplink.End{Bye: &uplink.Bye{Reason: uplink.ByeAuthFailure}}, "cloud rejected the camera's access token", true},
		{"refused", uplink.End{Err: fmt.Errorf("connect c:443: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})}, "cannot reach the cloud", true},
		{"dns", uplink.End{Err: fmt.Errorf("connect c:443: %w", &net.OpError{Op: "dial", Err: &net.DNSError{Name: "c", IsNotFound: true}})}, "cloud's host name does not resolve", true},
		{"certificate", uplink.End{Err: fmt.Errorf("connect c:443: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}})}, "cloud's TLS certificate is not trusted", true},
		{"dropped", uplink.End{Err: errors.New("liveness timeout: nothing received for 30s")}, "connection to the cloud failed", true},
	} {
		words, problem := CloudEnd(c.end)
		if !strings.HasPrefix(words, c.words) || problem != c.problem {
			t.Errorf("%s: %q, problem %v; want %q…, %v", c.name, words, problem, c.words, c.problem)
		}
	}
}
