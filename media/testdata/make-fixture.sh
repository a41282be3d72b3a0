#!/bin/sh
# Generates the H.264 (Annex-B) + AAC (ADTS) fixture that rtspsim loops.
#
#   ./make-fixture.sh           small committed fixture: 640x360 25 fps, GOP 25, 10 s
#                               -> ../rtspsim/fixture/fixture.{h264,aac}
#                               (beside rtspsim so it can go:embed them)
#   ./make-fixture.sh bench     1080p25 ~4 Mbit/s variant for benchmarks
#                               -> gen/bench.h264, gen/bench.aac (git-ignored)
#   ./make-fixture.sh h265      2 s of 320x180 H.265 with an AUD before every
#                               picture -> h265.hevc (committed, for media tests)
#   ./make-fixture.sh bframes   2 s of 160x90 H.264 with B-frames and AUDs
#                               -> bframes.h264 + bframes.pts (presentation
#                               index of each picture in decode order)
#
# Sources are ffmpeg's synthetic lavfi testsrc2 and sine, so the output is
# reproducible and carries no third-party media.
set -eu
cd "$(dirname "$0")"

mode=${1:-small}
case "$mode" in
small)
	out=../rtspsim/fixture
	name=fixture
	size=640x360
	rate=300k
	profile=baseline
	mkdir -p "$out"
	;;
bench)
	out=gen
	name=bench
	size=1920x1080
	rate=4M
	profile=main
	mkdir -p gen
	;;
h265)
	ffmpeg -hide_banner -loglevel error -y \
		-f lavfi -i "testsrc2=size=320x180:rate=25:duration=2" \
		-c:v libx265 -preset ultrafast -pix_fmt yuv420p \
		-x265-params "keyint=25:min-keyint=25:scenecut=0:bframes=0:aud=1:repeat-headers=1:log-level=error" \
		-b:v 100k -f hevc h265.hevc
	ls -l h265.hevc
	exit 0
	;;
bframes)
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	ffmpeg -hide_banner -loglevel error -y \
		-f lavfi -i "testsrc2=size=160x90:rate=25:duration=2" \
		-c:v libx264 -profile:v main -preset veryfast -pix_fmt yuv420p \
		-g 25 -keyint_min 25 -sc_threshold 0 -bf 2 -b_strategy 0 \
		-x264-params aud=1:repeat-headers=1 -b:v 100k \
		-video_track_timescale 25 "$tmp/b.mp4"
	ffmpeg -hide_banner -loglevel error -y -i "$tmp/b.mp4" -c copy \
		-bsf:v h264_mp4toannexb -f h264 bframes.h264
	ffprobe -v error -select_streams v -show_entries packet=pts \
		-of csv=p=0 "$tmp/b.mp4" >bframes.pts
	ls -l bframes.h264 bframes.pts
	exit 0
	;;
*)
	echo "usage: $0 [small|bench|h265|bframes]" >&2
	exit 2
	;;
esac

# -bf 0: no B-frames, like most IP cameras; the media package still copes
# with them. -g/-keyint_min 25 with scenecut off gives one IDR per second.
ffmpeg -hide_banner -loglevel error -y \
	-f lavfi -i "testsrc2=size=$size:rate=25:duration=10" \
	-c:v libx264 -profile:v "$profile" -pix_fmt yuv420p -preset veryfast -threads 1 \
	-g 25 -keyint_min 25 -sc_threshold 0 -bf 0 \
	-b:v "$rate" -maxrate "$rate" -bufsize "$rate" \
	-x264-params repeat-headers=1 \
	-bsf:v h264_mp4toannexb -f h264 "$out/$name.h264"

ffmpeg -hide_banner -loglevel error -y \
	-f lavfi -i "sine=frequency=440:sample_rate=48000:duration=10" \
	-c:a aac -b:a 64k -ac 1 -f adts "$out/$name.aac"

ls -l "$out/$name.h264" "$out/$name.aac"
