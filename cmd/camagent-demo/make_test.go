//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// openPTY opens a pseudo-terminal pair: the master is the user's keyboard
// and screen, the slave the terminal `make demo` runs in.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlockpt: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("ptsname: %v", e)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return master, slave
}

var introVersion = regexp.MustCompile(`^camagent-demo (\S+): `)

// TestMakeDemoCtrlC is `make demo` in a terminal, stopped with Ctrl-C: the
// build is announced before the compile, the demo carries the version
// stamp of `make build`, and Ctrl-C ends the demo and make with exit
// status 0 and no make error.
func TestMakeDemoCtrlC(t *testing.T) {
	makePath, err := exec.LookPath("make")
	if err != nil {
		t.Fatalf("make demo needs make: %v", err)
	}
	master, slave := openPTY(t)
	cmd := exec.Command(makePath, "--no-print-directory", "-C", filepath.Join("..", ".."), "demo",
		"DEMO_BIN="+filepath.Join(t.TempDir(), "camagent-demo"), "DEMO_ARGS=--http 127.0.0.1:0")
	// A make running this test must not hand its job server to this one.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "MAKEFLAGS" && k != "MFLAGS" && k != "MAKELEVEL" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	// make leads a session whose controlling terminal is the slave, as in
	// a login shell: ^C on the master signals the foreground process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	out := newLineWriter()
	copied := make(chan struct{})
	go func() {
		// Reading ends with EIO once no process holds the terminal.
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				close(copied)
				return
			}
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Closing the master hangs the terminal up, which ends make and the
	// demo if the test fails before they end.
	defer master.Close()

	waitLine(t, out, done, "the build announced", func(l string) bool { return strings.HasPrefix(l, "building ") })
	// A cold build compiles the whole agent, minutes on a busy small machine.
	line := waitLineWithin(t, 8*time.Minute, out, done, "the demo's first line", introVersion.MatchString)
	if v := introVersion.FindStringSubmatch(line)[1]; v == "dev" {
		t.Errorf("make demo runs an unstamped build: %q", line)
	}
	waitLine(t, out, done, "the live video request", func(l string) bool { return strings.Contains(l, "cloud requested live video") })
	if _, err := master.Write([]byte{0x03}); err != nil { // Ctrl-C
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("make demo after Ctrl-C: %v, want exit status 0", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("make demo did not end within 60 s of Ctrl-C\n%s", out)
	}
	master.Close()
	<-copied
	text := out.String()
	if strings.Contains(text, "make: ***") || !strings.HasSuffix(strings.TrimSpace(text), " stopped") {
		t.Errorf("make demo after Ctrl-C, want the demo's last word and no make error:\n%s", text)
	}
}
