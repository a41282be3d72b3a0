# camagent build, test and release targets. `make help` lists them.

GO       ?= go
BIN      := bin/camagent
PKG      := ./cmd/camagent
# The demo is a binary of its own: the daemon links no simulator.
DEMO_BIN := bin/camagent-demo
DEMO_PKG := ./cmd/camagent-demo
FUZZTIME ?= 20s
DEMO_ARGS ?=

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
# The commit time rather than the build time, so rebuilding a commit gives
# the same binary.
DATE    ?= $(shell git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || TZ=UTC date +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)

REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
# Expand each once, when make starts: a commit landing during a long run
# must not give the binaries, the image and the packages different versions.
VERSION           := $(VERSION)
COMMIT            := $(COMMIT)
DATE              := $(DATE)
REVISION          := $(REVISION)
SOURCE_DATE_EPOCH := $(SOURCE_DATE_EPOCH)

CROSS_TARGETS    := amd64 arm64 armv6 armv7
MAX_BINARY_BYTES := 20000000
TOOLS_BIN        := bin/tools
TESTSUMMARY      := $(TOOLS_BIN)/testsummary
TOOLS_PKG_mkimage := ./mkimage
TOOLS_PKG_pkgversion := ./pkgversion
TOOLS_PKG_nfpm   := github.com/goreleaser/nfpm/v2/cmd/nfpm
# format:nfpm arch:the `make cross` target whose binary it packages. nfpm's
# arm7 is deb armhf and rpm armv7hl. The armhf .deb carries the armv6
# binary: Raspberry Pi OS armhf also runs on ARMv6 boards (Pi Zero/1), where
# a GOARM=7 binary dies at start; armv7hl rpm distributions need ARMv7 anyway.
PKG_TARGETS      := deb:amd64:amd64 deb:arm64:arm64 deb:arm7:armv6 \
                    rpm:amd64:amd64 rpm:arm64:arm64 rpm:arm7:armv7
# command:nfpm config. Each command is a package of its own: the demo, for
# trying camagent out, would double what the daemon takes on a gateway.
PKG_CONFIGS      := camagent:packaging/nfpm.yaml camagent-demo:packaging/nfpm-demo.yaml
PKG_MAINTAINER   ?= camagent developers <camagent@users.noreply.github.com>
IMAGE_DIR        := dist/image
IMAGE_ARCHIVE    := dist/camagent-image.oci.tar

.PHONY: all help check-go build test test-32bit test-interop test-browser test-long demo bench lint cross image package test-packaging fuzz clean FORCE

all: build

help:
	@echo "build         static binaries $(BIN) (the daemon) and $(DEMO_BIN)"
	@echo "test          go vet, then unit tests with -race"
	@echo "test-32bit    the unit tests once as GOARCH=386 (32-bit boards)"
	@echo "test-interop  tests against ffmpeg, nginx-rtmp and GStreamer (Debian packages)"
	@echo "test-browser  the status page in headless Chromium (Debian package chromium)"
	@echo "test-long     five minutes of direct-to-storage recording uploaded, checked file by file"
	@echo "demo          build and run camagent-demo: the agent between two simulated cameras and a simulated cloud (DEMO_ARGS=--duration=30s)"
	@echo "bench         micro-benchmarks and the end-to-end agent benchmark: 1, 16, 64 cameras beside ffmpeg (GO2RTC=binary adds go2rtc, MINRELAY=1 the minimal Go relay), 16 recording"
	@echo "lint          gofmt and go vet"
	@echo "cross         camagent and camagent-demo for linux/amd64, arm64, armv6, armv7 (each at most 20 MB)"
	@echo "image         multi-arch OCI image (amd64, arm64, arm/v7; the daemon only) in $(IMAGE_DIR), no engine needed"
	@echo "test-packaging  make image, then inspect it (platforms, user, static binaries, size; needs dpkg, rpm, skopeo)"
	@echo "package       .deb and .rpm of camagent (the daemon) and of camagent-demo, each for amd64, arm64, armhf in dist/ (nfpm); scripts/check-package checks them"
	@echo "fuzz          every Fuzz target for FUZZTIME (default 20s) each"
	@echo "clean         remove build output"

build: check-go
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) $(PKG)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(DEMO_BIN) $(DEMO_PKG)

# go test runs under scripts/testsummary, which prints each package's
# closing line (go test's own ok/FAIL lines) as it finishes and a progress
# line while nothing else shows: a cold -race build is minutes of silence.
# The tiers behind build tags are vetted too, so a change that breaks
# their code fails here and not only where their peers are installed.
test: check-go
	$(GO) vet ./...
	$(GO) vet -tags 'interop browser bench' ./...
	$(GO) build -o $(TESTSUMMARY) ./scripts/testsummary
	$(TESTSUMMARY) $(GO) test -race -count=1 -timeout 14m ./...

# armv7 boards are 32-bit: run the suite once as 386 to catch 64-bit
# atomics on unaligned fields and int overflows (-race needs 64-bit).
test-32bit: check-go
	$(GO) build -o $(TESTSUMMARY) ./scripts/testsummary
	GOARCH=386 $(TESTSUMMARY) $(GO) test -count=1 -timeout 14m ./...

test-interop:
	./scripts/interop-deps
	$(GO) test -race -count=1 -tags interop -run Interop -timeout 14m ./...

# The browser tag also compiles the ordinary agent tests: -run keeps to the
# browser ones, which fail (not skip) without /usr/bin/chromium.
test-browser: check-go
	$(GO) test -race -count=1 -tags browser -run TestBrowser -timeout 5m ./agent/

# make test runs it for 35 s; here for five minutes of 10 s segments.
test-long: check-go
	CAMAGENT_DIRECTREC_DURATION=5m $(GO) test -race -count=1 -run 'TestDirectRecording$$' -timeout 10m ./agent/

# Go is the one thing build, test and demo need; say plainly what to
# install when it is missing or too old (scripts/go-toolchain).
check-go:
	@GO='$(GO)' ./scripts/go-toolchain >/dev/null

# Built first, with the version stamp of `make build`, so the first run's
# compile (a minute or so) is not a silent wait. Ctrl-C sends SIGINT to
# the terminal's whole foreground process group, make included: make then
# dies of it or reports an error although the demo stops cleanly. With
# job control (set -m) the shell gives the demo a process group of its
# own in the terminal's foreground, so Ctrl-C reaches the demo alone, make
# sees it exit 0 and exits 0. Without a terminal there is no job control,
# and no Ctrl-C either.
demo: check-go
	@echo "building $(DEMO_BIN) (the first build compiles for a minute or so)..."
	@CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(DEMO_BIN) $(DEMO_PKG)
	@{ set -m; } 2>/dev/null; $(abspath $(DEMO_BIN)) $(DEMO_ARGS)

bench:
	@test -f media/testdata/gen/bench.h264 || media/testdata/make-fixture.sh bench
	$(GO) test -run '^$$' -bench . -benchmem ./media/... ./uplink/...
	$(GO) test -count=1 -tags bench -run TestBench -v -timeout 20m ./agent/

lint:
	@out=$$(find . -name '*.go' -not -path './vendor/*' -not -path '*/testdata/*' -exec gofmt -l {} +); \
	if [ -n "$$out" ]; then echo "gofmt needed on:" >&2; echo "$$out" >&2; exit 1; fi
	$(GO) vet ./...

# armv6 (Raspberry Pi Zero/1) and armv7 are separate outputs: GOARM=7
# binaries use instructions an armv6 core lacks. camagent-demo is built
# beside the daemon for the packages.
cross: check-go
	@set -e; for t in $(CROSS_TARGETS); do \
		case $$t in armv*) goarch=arm goarm=$${t#armv} ;; *) goarch=$$t goarm= ;; esac; \
		for cmd in camagent camagent-demo; do \
			out=bin/$$cmd-linux-$$t; \
			echo "build $$out"; \
			CGO_ENABLED=0 GOOS=linux GOARCH=$$goarch GOARM=$$goarm \
				$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $$out ./cmd/$$cmd; \
		done; \
	done; \
	fail=0; for t in $(CROSS_TARGETS); do for cmd in camagent camagent-demo; do \
		f=bin/$$cmd-linux-$$t; s=$$(stat -c %s $$f); \
		awk -v f=$$f -v s=$$s 'BEGIN { printf "%-34s %5.1f MiB\n", f, s / 1048576 }'; \
		if [ $$s -gt $(MAX_BINARY_BYTES) ]; then \
			echo "$$f: $$s bytes, above the $(MAX_BINARY_BYTES)-byte budget" >&2; fail=1; \
		fi; \
	done; done; \
	exit $$fail

# The image and packages are built from the `make cross` binaries by tools
# in their own module (packaging/tools), so the agent's go.mod stays small.
$(TOOLS_BIN)/%: check-go FORCE
	$(GO) -C packaging/tools build -o $(CURDIR)/$@ $(TOOLS_PKG_$*)

# Multi-arch OCI image without a container engine; packaging/Dockerfile
# describes the same image for engines that can build it.
image: cross $(TOOLS_BIN)/mkimage
	$(TOOLS_BIN)/mkimage -out $(IMAGE_DIR) -archive $(IMAGE_ARCHIVE) \
		-bin linux/amd64=bin/camagent-linux-amd64 \
		-bin linux/arm64=bin/camagent-linux-arm64 \
		-bin linux/arm/v7=bin/camagent-linux-armv7 \
		-version '$(VERSION)' -revision '$(REVISION)' -source-date-epoch $(SOURCE_DATE_EPOCH)

# .deb and .rpm of camagent and of camagent-demo per architecture into
# dist/; scripts/check-package checks them.
package: cross $(TOOLS_BIN)/nfpm $(TOOLS_BIN)/pkgversion
	@set -e; mkdir -p dist; rm -f dist/camagent*.deb dist/camagent*.rpm; \
	v=$$($(TOOLS_BIN)/pkgversion -describe '$(VERSION)' -source-date-epoch $(SOURCE_DATE_EPOCH)); \
	echo "package version $$v"; \
	for c in $(PKG_CONFIGS); do cmd=$${c%%:*}; config=$${c#*:}; \
	for t in $(PKG_TARGETS); do \
		fmt=$${t%%:*}; rest=$${t#*:}; arch=$${rest%%:*}; cross=$${rest#*:}; \
		PKG_VERSION=$$v PKG_ARCH=$$arch PKG_MAINTAINER='$(PKG_MAINTAINER)' \
		PKG_BINARY=bin/$$cmd-linux-$$cross SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) \
			$(TOOLS_BIN)/nfpm package --config $$config --packager $$fmt --target dist/; \
	done; done; \
	for f in dist/camagent*.deb dist/camagent*.rpm; do \
		awk -v f=$$f -v s=$$(stat -c %s $$f) 'BEGIN { printf "%-72s %5.1f MiB\n", f, s / 1048576 }'; \
	done

# The image's inspection test reads what `make image` wrote; the tools'
# other tests (package version) run beside it; then skopeo reads the image.
test-packaging: image
	$(GO) -C packaging/tools vet ./...
	CAMAGENT_IMAGE_DIR=$(CURDIR)/$(IMAGE_DIR) $(GO) -C packaging/tools test -count=1 -v ./...
	IMAGE_DIR=$(IMAGE_DIR) IMAGE_ARCHIVE=$(IMAGE_ARCHIVE) ./scripts/check-image

# Each package's Fuzz targets, one at a time (go test -fuzz takes one
# target in one package).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		list=$$($(GO) test -list '^Fuzz' $$pkg); \
		targets=$$(echo "$$list" | grep '^Fuzz' || true); \
		for t in $$targets; do \
			echo "fuzz $$pkg $$t for $(FUZZTIME)"; \
			$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

clean:
	rm -rf bin dist

FORCE:
