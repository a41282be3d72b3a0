// Command mkimage builds camagent's multi-arch OCI image without a container
// engine, from static binaries that `make cross` built.
//
// The image is FROM scratch, so nothing is pulled from an image registry:
// one base layer, the same for every architecture, holds /etc/passwd and
// /etc/group with the camagent user (uid and gid 65532, the number
// distroless uses for "nonroot"), the build machine's CA bundle,
// /etc/nsswitch.conf, /tmp and the two volumes /etc/camagent and
// /var/lib/camagent owned by that user; a second layer holds
// /usr/bin/camagent. packaging/Dockerfile describes the same image for
// engines that can build it.
//
// Every timestamp is the commit time (-source-date-epoch), so the same
// commit, binaries and CA bundle give the same digests. The result is an
// OCI image layout directory (-out) whose index.json names one image index
// with a manifest per platform, and optionally the same layout as a tar
// archive (-archive: `skopeo copy oci-archive:FILE ...`, `docker load`,
// `podman load`).
//
//	mkimage -out dist/image -archive dist/camagent-image.oci.tar \
//	    -bin linux/amd64=bin/camagent-linux-amd64 -bin linux/arm/v7=bin/camagent-linux-armv7 \
//	    -version v1.2.3 -revision 0123abcd... -source-date-epoch 1700000000
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The user the agent runs as inside the image. A fixed number, because
// Kubernetes' runAsNonRoot can only verify a numeric USER.
const (
	userID    = 65532
	userName  = "camagent"
	binPath   = "usr/bin/camagent"
	caPath    = "etc/ssl/certs/ca-certificates.crt"
	configDir = "etc/camagent"
	stateDir  = "var/lib/camagent"
)

// Image configuration shared with packaging/Dockerfile.
var (
	entrypoint    = []string{"/usr/bin/camagent"}
	cmd           = []string{"run", "--config", "/etc/camagent/camagent.yaml"}
	volumes       = []string{"/etc/camagent", "/var/lib/camagent"}
	exposedPort   = "8089/tcp"
	defaultSource = "https://github.com/camagent/camagent"
)

// binary is one static agent binary and the platform it was built for.
type binary struct {
	platform v1.Platform
	path     string
}

// options says what goes into the image.
type options struct {
	binaries []binary
	caFile   string
	version  string
	revision string
	source   string
	created  time.Time
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	var o options
	out := fl.String("out", "dist/image", "OCI image layout directory to write (replaced)")
	archive := fl.String("archive", "", "also write the layout as this tar file")
	epoch := fl.Int64("source-date-epoch", 0, "timestamp of every file and of the image, in Unix seconds (the commit time)")
	fl.StringVar(&o.caFile, "ca", "/etc/ssl/certs/ca-certificates.crt", "CA bundle copied to /"+caPath)
	fl.StringVar(&o.version, "version", "dev", "org.opencontainers.image.version and the layout's ref name")
	fl.StringVar(&o.revision, "revision", "unknown", "org.opencontainers.image.revision (the commit)")
	fl.StringVar(&o.source, "source", defaultSource, "org.opencontainers.image.source")
	fl.Func("bin", "OS/ARCH[/VARIANT]=PATH of a static binary (repeat per platform)", func(s string) error {
		plat, path, ok := strings.Cut(s, "=")
		if !ok || path == "" {
			return fmt.Errorf("%q is not OS/ARCH[/VARIANT]=PATH", s)
		}
		p, err := v1.ParsePlatform(plat)
		if err != nil {
			return fmt.Errorf("platform %q: %w", plat, err)
		}
		o.binaries = append(o.binaries, binary{platform: *p, path: path})
		return nil
	})
	if err := fl.Parse(args); err != nil {
		return err
	}
	if len(o.binaries) == 0 {
		return errors.New("no -bin given")
	}
	o.created = time.Unix(*epoch, 0).UTC()

	idx, err := buildIndex(o)
	if err != nil {
		return err
	}
	if err := writeLayout(*out, idx, o.version); err != nil {
		return err
	}
	if *archive != "" {
		if err := writeArchive(*out, *archive, o.created); err != nil {
			return err
		}
	}
	return printSummary(stdout, *out, idx)
}

// buildIndex makes one image per binary and the index that lists them.
func buildIndex(o options) (v1.ImageIndex, error) {
	ca, err := os.ReadFile(o.caFile)
	if err != nil {
		return nil, fmt.Errorf("read ca bundle: %w", err)
	}
	if !bytes.Contains(ca, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, fmt.Errorf("ca bundle %s holds no PEM certificate", o.caFile)
	}
	base, err := layerFromFiles(baseFiles(ca), o.created)
	if err != nil {
		return nil, fmt.Errorf("base layer: %w", err)
	}
	labels := map[string]string{
		"org.opencontainers.image.title":       "camagent",
		"org.opencontainers.image.description": "edge camera agent: ONVIF/RTSP cameras to the VXG cloud",
		"org.opencontainers.image.version":     o.version,
		"org.opencontainers.image.revision":    o.revision,
		"org.opencontainers.image.source":      o.source,
		"org.opencontainers.image.url":         o.source,
		"org.opencontainers.image.created":     o.created.Format(time.RFC3339),
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, b := range o.binaries {
		img, err := buildImage(b, base, labels, o.created)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", b.platform, err)
		}
		p := b.platform
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &p},
		})
	}
	idx, ok := mutate.Annotations(idx, labels).(v1.ImageIndex)
	if !ok {
		return nil, errors.New("annotate index: not an index")
	}
	return idx, nil
}

// buildImage stacks the binary's layer on the shared base layer and sets
// the run configuration.
func buildImage(b binary, base v1.Layer, labels map[string]string, created time.Time) (v1.Image, error) {
	exe, err := os.ReadFile(b.path)
	if err != nil {
		return nil, fmt.Errorf("read binary: %w", err)
	}
	top, err := layerFromFiles([]file{
		dirEntry("usr", 0o755, 0),
		dirEntry("usr/bin", 0o755, 0),
		{name: binPath, mode: 0o755, data: exe},
	}, created)
	if err != nil {
		return nil, fmt.Errorf("binary layer: %w", err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, MediaType: types.OCILayer, History: v1.History{
			Created: v1.Time{Time: created}, CreatedBy: "mkimage: passwd, group, CA bundle, volumes",
		}},
		mutate.Addendum{Layer: top, MediaType: types.OCILayer, History: v1.History{
			Created: v1.Time{Time: created}, CreatedBy: "mkimage: /usr/bin/camagent",
		}},
	)
	if err != nil {
		return nil, fmt.Errorf("append layers: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: created}
	cf.OS = b.platform.OS
	cf.Architecture = b.platform.Architecture
	cf.Variant = b.platform.Variant
	vols := make(map[string]struct{}, len(volumes))
	for _, v := range volumes {
		vols[v] = struct{}{}
	}
	cf.Config = v1.Config{
		User:         fmt.Sprintf("%d:%d", userID, userID),
		Entrypoint:   entrypoint,
		Cmd:          cmd,
		Volumes:      vols,
		ExposedPorts: map[string]struct{}{exposedPort: {}},
		// No secrets here: tokens come from the config's ${ENV} or
		// credential: values at run time.
		Env:        []string{"PATH=/usr/bin", "SSL_CERT_FILE=/" + caPath},
		WorkingDir: "/" + stateDir,
		Labels:     labels,
	}
	return mutate.ConfigFile(img, cf)
}

// file is one tar entry of a layer.
type file struct {
	name string
	mode int64 // permission bits, plus fs.ModeDir for directories
	uid  int
	data []byte
}

// dirEntry is a directory entry owned by uid (and the group of the same id).
func dirEntry(name string, perm int64, uid int) file {
	return file{name: name, mode: perm | int64(fs.ModeDir), uid: uid}
}

// baseFiles is the content of the shared layer: what a scratch image needs
// for a non-root Go program that speaks TLS and resolves names.
func baseFiles(ca []byte) []file {
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:camagent edge camera agent:/%s:/sbin/nologin\n",
		userName, userID, userID, stateDir)
	group := fmt.Sprintf("root:x:0:\n%s:x:%d:\n", userName, userID)
	return []file{
		dirEntry("etc", 0o755, 0),
		dirEntry(configDir, 0o750, userID),
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "etc/nsswitch.conf", mode: 0o644, data: []byte("hosts: files dns\n")},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		dirEntry("etc/ssl", 0o755, 0),
		dirEntry("etc/ssl/certs", 0o755, 0),
		{name: caPath, mode: 0o644, data: ca},
		// Go's os.TempDir; the agent itself keeps its files in state_dir.
		dirEntry("tmp", 0o1777, 0),
		dirEntry("var", 0o755, 0),
		dirEntry("var/lib", 0o755, 0),
		dirEntry(stateDir, 0o750, userID),
	}
}

// layerFromFiles writes files into an uncompressed tar with fixed times and
// owners and wraps it as a gzip OCI layer.
func layerFromFiles(files []file, mtime time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name:    f.name,
			Mode:    f.mode & 0o7777,
			Uid:     f.uid,
			Gid:     f.uid,
			Uname:   "root",
			Gname:   "root",
			ModTime: mtime,
			Format:  tar.FormatPAX,
		}
		if f.uid == userID {
			h.Uname, h.Gname = userName, userName
		}
		if fs.FileMode(f.mode)&fs.ModeDir != 0 {
			h.Typeflag = tar.TypeDir
			h.Name += "/"
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("tar %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("tar: %w", err)
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestCompression), tarball.WithCompressedCaching)
}

// writeLayout replaces dir with an OCI layout whose index.json names idx
// under refName.
func writeLayout(dir string, idx v1.ImageIndex, refName string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove old layout: %w", err)
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("create layout %s: %w", dir, err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": refName,
	})); err != nil {
		return fmt.Errorf("write layout %s: %w", dir, err)
	}
	return nil
}

// writeArchive tars the layout directory with sorted names and fixed times,
// so the archive is as reproducible as the layout.
func writeArchive(dir, archive string, mtime time.Time) (err error) {
	var names []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		names = append(names, rel)
		return nil
	})
	if err != nil {
		return fmt.Errorf("list layout: %w", err)
	}
	sort.Strings(names)
	if err := os.MkdirAll(filepath.Dir(archive), 0o755); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	out, err := os.Create(archive)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("archive: %w", cerr)
		}
	}()
	tw := tar.NewWriter(out)
	for _, name := range names {
		if err := addToArchive(tw, dir, name, mtime); err != nil {
			return fmt.Errorf("archive %s: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	return nil
}

func addToArchive(tw *tar.Writer, dir, name string, mtime time.Time) error {
	path := filepath.Join(dir, name)
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	h := &tar.Header{Name: filepath.ToSlash(name), ModTime: mtime, Mode: 0o644, Format: tar.FormatPAX}
	if st.IsDir() {
		h.Typeflag, h.Name, h.Mode = tar.TypeDir, h.Name+"/", 0o755
		return tw.WriteHeader(h)
	}
	h.Typeflag, h.Size = tar.TypeReg, st.Size()
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(tw, f)
	return err
}

// printSummary prints the index digest and, per platform, the manifest
// digest and the compressed size a pull downloads.
func printSummary(w io.Writer, dir string, idx v1.ImageIndex) error {
	d, err := idx.Digest()
	if err != nil {
		return fmt.Errorf("index digest: %w", err)
	}
	fmt.Fprintf(w, "%s: index %s\n", dir, d)
	im, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("index manifest: %w", err)
	}
	for _, desc := range im.Manifests {
		img, err := idx.Image(desc.Digest)
		if err != nil {
			return fmt.Errorf("image %s: %w", desc.Digest, err)
		}
		size, err := compressedSize(img)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  %-14s %s  %5.2f MiB compressed\n", desc.Platform, desc.Digest, float64(size)/(1<<20))
	}
	return nil
}

// compressedSize adds up the image's compressed layers.
func compressedSize(img v1.Image) (int64, error) {
	layers, err := img.Layers()
	if err != nil {
		return 0, fmt.Errorf("layers: %w", err)
	}
	var total int64
	for _, l := range layers {
		s, err := l.Size()
		if err != nil {
			return 0, fmt.Errorf("layer size: %w", err)
		}
		total += s
	}
	return total, nil
}
