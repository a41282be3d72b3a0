package agent

import (
	"sync"
	"sync/atomic"
	"time"
)

// Failed logins a client address may make at once, and how fast it earns
// another: enough for a person mistyping, far too few to guess a password.
const (
	loginBurst  = 10
	loginRefill = 6 * time.Second
	// loginClients bounds the addresses tracked; beyond it new addresses
	// share one bucket, so a flood of addresses costs memory no more than
	// it gains guesses.
	loginClients = 4096
)

// loginLimiter limits failed logins per client address with a token bucket
// each: a failure takes a token, an empty bucket refuses the address until
// a token grows back. It runs before the password is checked, so a refused
// address costs no bcrypt.
type loginLimiter struct {
	burst int
	every time.Duration

	mu      sync.Mutex
	clients map[string]*loginBucket

	failures, limited atomic.Uint64 // for /metrics
}

type loginBucket struct {
	tokens float64
	at     time.Time
	// logged is set once the refusal of this burst was logged; the
	// bucket is forgotten, and logging rearmed, when it is full again.
	logged bool
	failed int // failures in this burst
}

func newLoginLimiter() *loginLimiter {
	return &loginLimiter{burst: loginBurst, every: loginRefill, clients: map[string]*loginBucket{}}
}

// setRate replaces the limits (tests make them independent of the clock).
func (l *loginLimiter) setRate(burst int, every time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.burst, l.every = burst, every
	clear(l.clients)
}

// bucket returns from's bucket refilled to now; nil when it is full and
// not tracked. l.mu held.
func (l *loginLimiter) bucket(from string, now time.Time) *loginBucket {
	b := l.clients[from]
	if b == nil {
		return nil
	}
	b.tokens = min(float64(l.burst), b.tokens+float64(now.Sub(b.at))/float64(l.every))
	b.at = now
	if b.tokens >= float64(l.burst) {
		delete(l.clients, from)
		return nil
	}
	return b
}

// allow reports whether from may try a login now, else how long until it
// may.
func (l *loginLimiter) allow(from string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(from, time.Now())
	if b == nil || b.tokens >= 1 {
		return 0, true
	}
	return time.Duration((1 - b.tokens) * float64(l.every)), false
}

// fail counts a failed login of from. first is true for the failure that
// empties its bucket, the first of this burst to be refused next: the one
// to log; n is the failures of the burst so far.
func (l *loginLimiter) fail(from string) (first bool, n int) {
	l.failures.Add(1)
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(from, now)
	if b == nil {
		if len(l.clients) >= loginClients {
			for k := range l.clients {
				l.bucket(k, now) // forgets the full ones
			}
			if len(l.clients) >= loginClients {
				from = "" // the shared bucket
			}
		}
		if b = l.clients[from]; b == nil {
			b = &loginBucket{tokens: float64(l.burst), at: now}
			l.clients[from] = b
		}
	}
	b.tokens--
	b.failed++
	if b.tokens < 1 && !b.logged {
		b.logged = true
		return true, b.failed
	}
	return false, b.failed
}
