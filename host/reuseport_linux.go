package host

import "golang.org/x/sys/unix"

// setReusePort sets SO_REUSEPORT on a socket.
func setReusePort(fd uintptr) error {
	return unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
}
