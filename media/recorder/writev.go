package recorder

import (
	"os"
	"syscall"
	"unsafe"
)

// maxIov is the most buffers one writev takes (Linux's IOV_MAX).
const maxIov = 1024

// vecWriter writes a fragment's pieces to a file with writev: one system
// call per fragment rather than one per piece, and no copy of the media
// into a buffer of its own. Owned by the disk goroutine.
type vecWriter struct {
	vecs []syscall.Iovec
}

// write writes every piece of iov to f, in order, and returns the bytes
// written; a short write continues where it stopped.
func (w *vecWriter) write(f *os.File, iov [][]byte) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	total := 0
	for len(iov) > 0 {
		w.vecs = w.vecs[:0]
		for _, p := range iov {
			if len(w.vecs) == maxIov {
				break
			}
			if len(p) == 0 {
				continue
			}
			v := syscall.Iovec{Base: unsafe.SliceData(p)}
			v.SetLen(len(p))
			w.vecs = append(w.vecs, v)
		}
		if len(w.vecs) == 0 {
			break
		}
		var n uintptr
		var errno syscall.Errno
		if err := rc.Write(func(fd uintptr) bool {
			for {
				n, _, errno = syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.vecs[0])), uintptr(len(w.vecs)))
				if errno != syscall.EINTR {
					return true
				}
			}
		}); err != nil {
			return total, err
		}
		clear(w.vecs) // no pointers into the units kept
		if errno != 0 {
			return total, &os.PathError{Op: "writev", Path: f.Name(), Err: errno}
		}
		if n == 0 {
			return total, &os.PathError{Op: "writev", Path: f.Name(), Err: syscall.EIO}
		}
		total += int(n)
		iov = advance(iov, int(n))
	}
	return total, nil
}

// advance drops the first n bytes of iov.
func advance(iov [][]byte, n int) [][]byte {
	for len(iov) > 0 && n >= len(iov[0]) {
		n -= len(iov[0])
		iov = iov[1:]
	}
	if n > 0 {
		// A partial piece: the caller's slice of slices is not changed.
		rest := iov[0][n:]
		iov = append([][]byte{rest}, iov[1:]...)
	}
	return iov
}
