package main

import (
	"archive/tar"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// maxCompressed is the pull size budget of one platform's image.
const maxCompressed = 15 << 20

// platforms are the image's platforms and the ELF machine of each binary.
var platforms = map[string]elf.Machine{
	"linux/amd64":  elf.EM_X86_64,
	"linux/arm64":  elf.EM_AARCH64,
	"linux/arm/v7": elf.EM_ARM,
}

// TestImage inspects the layout `make image` wrote ($CAMAGENT_IMAGE_DIR).
// Without that variable it builds the agent for the three platforms and an
// image from them in a temporary directory, so `go test ./...` in this module
// checks the builder on its own.
func TestImage(t *testing.T) {
	dir := os.Getenv("CAMAGENT_IMAGE_DIR")
	if dir == "" {
		dir = buildTestImage(t)
	}

	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("read layout %s: %v", dir, err)
	}
	topManifest, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(topManifest.Manifests) != 1 {
		t.Fatalf("index.json lists %d entries, want the one image index", len(topManifest.Manifests))
	}
	ref := topManifest.Manifests[0].Annotations["org.opencontainers.image.ref.name"]
	idx, err := top.ImageIndex(topManifest.Manifests[0].Digest)
	if err != nil {
		t.Fatalf("image index: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range im.Manifests {
		got = append(got, d.Platform.String())
	}
	slices.Sort(got)
	want := []string{"linux/amd64", "linux/arm/v7", "linux/arm64"}
	if !slices.Equal(got, want) {
		t.Fatalf("index platforms = %v, want %v", got, want)
	}

	ran := false
	for _, d := range im.Manifests {
		plat := d.Platform.String()
		t.Run(strings.ReplaceAll(plat, "/", "_"), func(t *testing.T) {
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			cf := checkConfig(t, img, *d.Platform)
			if v := cf.Config.Labels["org.opencontainers.image.version"]; v != ref {
				t.Errorf("version label %q, layout ref name %q", v, ref)
			}
			size, err := compressedSize(img)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %.2f MiB compressed", plat, float64(size)/(1<<20))
			if size > maxCompressed {
				t.Errorf("%s: %d bytes compressed, budget %d", plat, size, maxCompressed)
			}
			files := flatten(t, img)
			checkFiles(t, files, cf)
			exe := files["usr/bin/camagent"]
			checkELF(t, exe.data, platforms[plat])
			checkBuild(t, exe.data, *d.Platform)
			if d.Platform.OS == runtime.GOOS && d.Platform.Architecture == runtime.GOARCH {
				checkVersion(t, exe.data, cf.Config.Labels)
				ran = true
			}
		})
	}
	if !ran {
		t.Errorf("no image for %s/%s: its binary was not run", runtime.GOOS, runtime.GOARCH)
	}
}

// checkConfig asserts the run configuration every platform shares.
func checkConfig(t *testing.T, img v1.Image, plat v1.Platform) *v1.ConfigFile {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != plat.OS || cf.Architecture != plat.Architecture || cf.Variant != plat.Variant {
		t.Errorf("config platform %s/%s/%s, index says %s", cf.OS, cf.Architecture, cf.Variant, plat.String())
	}
	c := cf.Config
	uid, gid, ok := strings.Cut(c.User, ":")
	if !ok {
		t.Errorf("User %q is not UID:GID", c.User)
	}
	for _, id := range []string{uid, gid} {
		if n, err := strconv.Atoi(id); err != nil || n == 0 {
			t.Errorf("User %q: %q is not a non-root numeric id", c.User, id)
		}
	}
	if !slices.Equal(c.Entrypoint, []string{"/usr/bin/camagent"}) {
		t.Errorf("Entrypoint = %q", c.Entrypoint)
	}
	if !slices.Equal(c.Cmd, []string{"run", "--config", "/etc/camagent/camagent.yaml"}) {
		t.Errorf("Cmd = %q", c.Cmd)
	}
	for _, v := range []string{"/etc/camagent", "/var/lib/camagent"} {
		if _, ok := c.Volumes[v]; !ok {
			t.Errorf("volume %s missing: %v", v, c.Volumes)
		}
	}
	if len(c.Volumes) != 2 {
		t.Errorf("volumes = %v, want two", c.Volumes)
	}
	if _, ok := c.ExposedPorts["8089/tcp"]; !ok || len(c.ExposedPorts) != 1 {
		t.Errorf("ExposedPorts = %v, want 8089/tcp", c.ExposedPorts)
	}
	for _, e := range c.Env {
		if regexp.MustCompile(`(?i)token|password|secret`).MatchString(e) {
			t.Errorf("Env %q looks like a secret", e)
		}
	}
	for _, l := range []string{"version", "revision", "source", "created"} {
		if cf.Config.Labels["org.opencontainers.image."+l] == "" {
			t.Errorf("label org.opencontainers.image.%s missing", l)
		}
	}
	created := cf.Config.Labels["org.opencontainers.image.created"]
	if !cf.Created.Time.Equal(mustTime(t, created)) {
		t.Errorf("image created %v, label says %s", cf.Created.Time, created)
	}
	return cf
}

// entry is one file of the flattened image.
type entry struct {
	hdr  *tar.Header
	data []byte
}

// flatten reads the image's file system as a container would see it.
func flatten(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	files := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read image files: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(h.Name, "/")] = entry{hdr: h, data: data}
	}
	return files
}

// checkFiles asserts what the agent needs from the file system: its user,
// CA roots and two writable-by-it volumes.
func checkFiles(t *testing.T, files map[string]entry, cf *v1.ConfigFile) {
	t.Helper()
	uid, _, _ := strings.Cut(cf.Config.User, ":")
	exe, ok := files["usr/bin/camagent"]
	if !ok {
		t.Fatal("no /usr/bin/camagent")
	}
	if exe.hdr.Mode&0o111 == 0 || exe.hdr.Uid != 0 {
		t.Errorf("/usr/bin/camagent mode %o uid %d, want executable and root-owned", exe.hdr.Mode, exe.hdr.Uid)
	}
	ca := files["etc/ssl/certs/ca-certificates.crt"]
	if n := bytes.Count(ca.data, []byte("-----BEGIN CERTIFICATE-----")); n < 10 {
		t.Errorf("CA bundle holds %d certificates", n)
	}
	passwd := string(files["etc/passwd"].data)
	if !regexp.MustCompile(`(?m)^camagent:x:` + uid + `:` + uid + `:`).MatchString(passwd) {
		t.Errorf("/etc/passwd has no camagent user with uid %s:\n%s", uid, passwd)
	}
	if !regexp.MustCompile(`(?m)^camagent:x:` + uid + `:`).MatchString(string(files["etc/group"].data)) {
		t.Errorf("/etc/group has no camagent group %s", uid)
	}
	for _, v := range []string{"etc/camagent", "var/lib/camagent"} {
		h := files[v].hdr
		if h == nil || h.Typeflag != tar.TypeDir || strconv.Itoa(h.Uid) != uid || h.Mode&0o700 != 0o700 {
			t.Errorf("/%s: %+v, want a directory owned and writable by uid %s", v, h, uid)
		}
	}
	if h := files["tmp"].hdr; h == nil || h.Mode&0o1777 != 0o1777 {
		t.Errorf("/tmp missing or not 1777")
	}
}

// checkELF asserts the binary is for machine and statically linked.
func checkELF(t *testing.T, exe []byte, machine elf.Machine) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(exe))
	if err != nil {
		t.Fatalf("binary is not ELF: %v", err)
	}
	if f.Machine != machine {
		t.Errorf("binary machine %v, want %v", f.Machine, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("binary has an interpreter (PT_INTERP): not static")
		}
	}
	if f.Section(".dynamic") != nil {
		t.Errorf("binary has a .dynamic section: not static")
	}
}

// checkBuild reads the Go build settings recorded in the binary: built for
// the image's platform (GOARM for the arm variant), without cgo, with
// -trimpath.
func checkBuild(t *testing.T, exe []byte, plat v1.Platform) {
	t.Helper()
	bi, err := buildinfo.Read(bytes.NewReader(exe))
	if err != nil {
		t.Fatalf("read build info: %v", err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	want := map[string]string{"GOOS": plat.OS, "GOARCH": plat.Architecture, "CGO_ENABLED": "0", "-trimpath": "true"}
	if plat.Architecture == "arm" {
		want["GOARM"] = strings.TrimPrefix(plat.Variant, "v")
	}
	for k, v := range want {
		if settings[k] != v {
			t.Errorf("binary built with %s=%q, want %q", k, settings[k], v)
		}
	}
}

// checkVersion runs the image's binary for this machine and compares its
// version line with the image labels, which come from the same make
// variables as the binary's ldflags.
func checkVersion(t *testing.T, exe []byte, labels map[string]string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "camagent")
	if err := os.WriteFile(path, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(path, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("camagent version: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`^camagent (\S+) \(commit (\S+), built (\S+)\)\n$`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("camagent version printed %q", out)
	}
	t.Logf("camagent version: %s", strings.TrimSpace(string(out)))
	if m[1] != labels["org.opencontainers.image.version"] {
		t.Errorf("binary version %q, image label %q", m[1], labels["org.opencontainers.image.version"])
	}
	if !strings.HasPrefix(labels["org.opencontainers.image.revision"], m[2]) {
		t.Errorf("binary commit %q, image revision label %q", m[2], labels["org.opencontainers.image.revision"])
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return tm
}

// buildTestImage cross-compiles the agent the way `make cross` does, with a
// test version in its ldflags, and writes an image of it.
func buildTestImage(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	o := options{
		caFile:   "/etc/ssl/certs/ca-certificates.crt",
		version:  "v0.0.0-imagetest",
		revision: "0123456789abcdef0123456789abcdef01234567",
		source:   defaultSource,
		created:  time.Unix(1700000000, 0).UTC(),
	}
	for plat, goarch := range map[string][]string{
		"linux/amd64":  {"GOARCH=amd64"},
		"linux/arm64":  {"GOARCH=arm64"},
		"linux/arm/v7": {"GOARCH=arm", "GOARM=7"},
	} {
		out := filepath.Join(tmp, strings.ReplaceAll(plat, "/", "-"))
		cmd := exec.Command("go", "build", "-trimpath", "-o", out,
			"-ldflags", "-s -w -X main.version="+o.version+" -X main.commit=0123456 -X main.date=2023-11-14T22:13:20Z",
			"./cmd/camagent")
		cmd.Dir = root
		cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux"), goarch...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", plat, err, b)
		}
		p, err := v1.ParsePlatform(plat)
		if err != nil {
			t.Fatal(err)
		}
		o.binaries = append(o.binaries, binary{platform: *p, path: out})
	}
	idx, err := buildIndex(o)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "image")
	if err := writeLayout(dir, idx, o.version); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestReproducible builds the layout and archive twice from the same inputs
// and compares the bytes: the commit time is the only clock used.
func TestReproducible(t *testing.T) {
	tmp := t.TempDir()
	var bins []string
	for _, plat := range []string{"linux/amd64", "linux/arm/v7"} {
		p := filepath.Join(tmp, strings.ReplaceAll(plat, "/", "-"))
		if err := os.WriteFile(p, []byte("not really a binary for "+plat), 0o755); err != nil {
			t.Fatal(err)
		}
		bins = append(bins, "-bin", plat+"="+p)
	}
	var archives [][]byte
	var outputs []string
	for i := range 2 {
		dir := filepath.Join(tmp, "image"+strconv.Itoa(i))
		archive := filepath.Join(tmp, "image"+strconv.Itoa(i)+".tar")
		var out bytes.Buffer
		args := append([]string{"-out", dir, "-archive", archive, "-version", "v1.2.3", "-revision", "abc", "-source-date-epoch", "1700000000"}, bins...)
		if err := run(args, &out); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(archive)
		if err != nil {
			t.Fatal(err)
		}
		archives = append(archives, b)
		outputs = append(outputs, strings.ReplaceAll(out.String(), "image1", "image0"))
	}
	if outputs[0] != outputs[1] {
		t.Errorf("digests differ between two builds:\n%s\n%s", outputs[0], outputs[1])
	}
	if !bytes.Equal(archives[0], archives[1]) {
		t.Errorf("archives differ between two builds")
	}
	if !strings.Contains(outputs[0], "linux/arm/v7") {
		t.Errorf("summary does not name the platforms:\n%s", outputs[0])
	}
}
