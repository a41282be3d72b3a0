// Package cloudsim is an in-process VXG cloud for tests and demos: a strict
// camera-channel server over real WebSocket (Server), an RTMP ingest and an
// upload sink. The camera server follows the camera-channel spec to the
// letter, rejects what the real cloud would reject, and records every
// protocol violation of the agent so tests can assert there were none.
package cloudsim
