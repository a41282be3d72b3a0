#!/usr/bin/python3
"""A GStreamer RTSP camera for camagent's interop tests.

Serves a live test pattern (H.264, 640x360, 25 fps, key frame every second)
and a test tone (AAC) on rtsp://127.0.0.1:<port>/stream, optionally behind
digest authentication. Prints "listening <port>" once the socket is bound and
exits when stdin closes, so it never outlives the test that started it.

usage: gst-rtsp-server.py PORT [USER PASSWORD]   (PORT 0 picks a free port)

Run it with Debian's /usr/bin/python3: the gi bindings come from the
python3-gi and gir1.2-gst-rtsp-server-1.0 packages. It is compiled into
package rtspsim (gstreamer.go), which writes it out and runs it; when
something is missing it exits naming the Debian package that provides it.
"""
import sys

try:
    import gi
except ImportError:
    sys.exit("missing python3 gi bindings (Debian package python3-gi)")

try:
    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtsp", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402
except (ImportError, ValueError) as e:
    sys.exit("missing GstRtspServer introspection data "
             "(Debian package gir1.2-gst-rtsp-server-1.0): %s" % e)

WIDTH, HEIGHT, FPS = 640, 360, 25


def aac_encoder():
    # Debian ships avenc_aac in gstreamer1.0-libav and voaacenc in
    # gstreamer1.0-plugins-bad; fdkaacenc only in non-free builds.
    for name in ("avenc_aac", "voaacenc", "fdkaacenc"):
        if Gst.ElementFactory.find(name) is not None:
            return name
    return None


def main():
    if len(sys.argv) not in (2, 4):
        sys.exit(__doc__)
    port = int(sys.argv[1])
    Gst.init(None)
    # Name every missing package at once, not one per run.
    missing = ["missing GStreamer element %s (Debian package %s)" % (name, pkg)
               for name, pkg in (("x264enc", "gstreamer1.0-plugins-ugly"),
                                 ("rtph264pay", "gstreamer1.0-plugins-good"),
                                 ("rtpmp4gpay", "gstreamer1.0-plugins-good"),
                                 ("videotestsrc", "gstreamer1.0-plugins-base"),
                                 ("audiotestsrc", "gstreamer1.0-plugins-base"))
               if Gst.ElementFactory.find(name) is None]
    aac = aac_encoder()
    if aac is None:
        missing.append("missing an AAC encoder: avenc_aac (Debian package "
                       "gstreamer1.0-libav) or voaacenc (gstreamer1.0-plugins-bad)")
    if missing:
        sys.exit("\n".join(missing))

    launch = (
        "( videotestsrc is-live=true pattern=ball "
        "! video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1 "
        "! x264enc tune=zerolatency speed-preset=veryfast key-int-max=%d "
        "! video/x-h264,profile=main "
        "! rtph264pay name=pay0 pt=96 config-interval=-1 "
        "audiotestsrc is-live=true wave=sine "
        "! audio/x-raw,rate=48000,channels=1 ! audioconvert ! audioresample "
        "! %s ! rtpmp4gpay name=pay1 pt=97 )"
        % (WIDTH, HEIGHT, FPS, FPS, aac)
    )

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    # One encoder for every client, like a camera.
    factory.set_shared(True)

    if len(sys.argv) == 4:
        user, password = sys.argv[2], sys.argv[3]
        auth = GstRtspServer.RTSPAuth()
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        # The variadic constructors are not introspectable: build the
        # token and the role from structures instead.
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "camera")
        auth.add_digest(user, password, token)
        server.set_auth(auth)
        factory.add_role_from_structure(Gst.Structure.from_string(
            "camera, media.factory.access=(boolean)true, "
            "media.factory.construct=(boolean)true")[0])

    server.get_mount_points().add_factory("/stream", factory)
    if server.attach(None) == 0:
        sys.exit("cannot listen on 127.0.0.1:%d" % port)
    print("listening %d" % server.get_bound_port(), flush=True)

    loop = GLib.MainLoop()

    def on_stdin(_fd, _cond):
        loop.quit()
        return False

    GLib.io_add_watch(sys.stdin.fileno(), GLib.PRIORITY_DEFAULT,
                      GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR,
                      on_stdin)
    loop.run()


if __name__ == "__main__":
    main()
