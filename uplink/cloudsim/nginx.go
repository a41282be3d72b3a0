package cloudsim

import (
	"bytes"
	_ "embed" // the config travels with the package, so tests of any package can run nginx
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"text/template"
	"time"
)

//go:embed nginx-rtmp.conf.tmpl
var nginxConfText string

var nginxConf = template.Must(template.New("nginx-rtmp.conf").Parse(nginxConfText))

// nginxModule is where Debian's libnginx-mod-rtmp installs the RTMP module.
const nginxModule = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

// nginxTimeout bounds both nginx's start and its graceful stop.
const nginxTimeout = 10 * time.Second

// Nginx is nginx with the RTMP module run as a child process: the RTMP
// media server the real cloud uses, written by nobody on this project, for
// interop tests. It records every publish to <stream name>.flv. It comes
// from Debian packages nginx-light and libnginx-mod-rtmp.
type Nginx struct {
	addr, dir, recordDir string
	cmd                  *exec.Cmd
	exited               chan struct{}

	stopOnce sync.Once
	stopErr  error
}

// StartNginx starts nginx-rtmp on a free 127.0.0.1 port with its config,
// logs and recordings under dir (tests pass t.TempDir()), and returns once
// it accepts connections. When a Debian package it needs is missing, the
// error names it. Stop or Close ends it.
func StartNginx(dir string) (*Nginx, error) {
	bin, err := nginxBinary()
	if err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	n := &Nginx{dir: dir, recordDir: filepath.Join(dir, "rec"), exited: make(chan struct{})}
	if err := os.Mkdir(n.recordDir, 0o755); err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	// nginx must bind the port itself; a port just freed by the kernel is
	// the best loopback can offer.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start nginx: pick a port: %w", err)
	}
	n.addr = ln.Addr().String()
	ln.Close()

	var conf bytes.Buffer
	if err := nginxConf.Execute(&conf, map[string]any{
		"Module": nginxModule, "Dir": dir, "Addr": n.addr, "RecordDir": n.recordDir, "Root": os.Geteuid() == 0,
	}); err != nil {
		return nil, fmt.Errorf("start nginx: render config: %w", err)
	}
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, conf.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	// Before the error log opens, nginx complains on stderr.
	out, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	defer out.Close() // the child keeps its own descriptor
	n.cmd = exec.Command(bin, "-p", dir, "-e", n.errorLogPath(), "-c", confPath, "-g", "daemon off; master_process off;")
	n.cmd.Stdout, n.cmd.Stderr = out, out
	// Dies with its parent, so it never outlives a test binary that dies early.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	go func() {
		_ = n.cmd.Wait()
		close(n.exited)
	}()

	// Ready once it accepts connections.
	deadline := time.NewTimer(nginxTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", n.addr, time.Second)
		if err == nil {
			c.Close()
			return n, nil
		}
		select {
		case <-n.exited:
			stderr, _ := os.ReadFile(out.Name())
			return nil, fmt.Errorf("start nginx: exited at start:\n%s%s", stderr, n.ErrorLog())
		case <-deadline.C:
			n.Close()
			return nil, fmt.Errorf("start nginx: not accepting on %s within %v:\n%s", n.addr, nginxTimeout, n.ErrorLog())
		case <-tick.C:
		}
	}
}

// nginxBinary finds nginx and checks for the RTMP module.
func nginxBinary() (string, error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx" // not on a non-root PATH
		if _, err := os.Stat(bin); err != nil {
			return "", errors.New("nginx not found (Debian packages nginx-light and libnginx-mod-rtmp)")
		}
	}
	if _, err := os.Stat(nginxModule); err != nil {
		return "", fmt.Errorf("%s missing (Debian package libnginx-mod-rtmp)", nginxModule)
	}
	return bin, nil
}

// Addr is the RTMP listen address, 127.0.0.1:<port>.
func (n *Nginx) Addr() string { return n.addr }

// Recording is the path nginx records stream name to; the file is complete
// only after Stop.
func (n *Nginx) Recording(name string) string {
	return filepath.Join(n.recordDir, name+".flv")
}

func (n *Nginx) errorLogPath() string { return filepath.Join(n.dir, "error.log") }

// ErrorLog is nginx's error log so far, at level info: it names every
// publish with its arguments.
func (n *Nginx) ErrorLog() string {
	b, _ := os.ReadFile(n.errorLogPath())
	return string(b)
}

// Stop shuts nginx down gracefully, so every recording is complete; if it
// has not exited within 10 s it is killed and Stop says so. Calling Stop
// (or Close) again returns the first result.
func (n *Nginx) Stop() error { return n.stop(syscall.SIGQUIT) }

// Close kills nginx at once, for cleanup after a failure; recordings may
// be cut short.
func (n *Nginx) Close() { _ = n.stop(syscall.SIGKILL) }

func (n *Nginx) stop(sig syscall.Signal) error {
	n.stopOnce.Do(func() {
		_ = n.cmd.Process.Signal(sig)
		select {
		case <-n.exited:
		case <-time.After(nginxTimeout):
			_ = n.cmd.Process.Kill()
			<-n.exited
			n.stopErr = fmt.Errorf("nginx did not exit within %v of %v; killed:\n%s", nginxTimeout, sig, n.ErrorLog())
		}
	})
	return n.stopErr
}
