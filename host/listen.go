package host

import (
	"context"
	"net"
	"syscall"
)

// listen opens a TCP listener on addr. With shared set (worker processes
// of a cluster) it sets SO_REUSEPORT where the system has it, so that every
// worker listens on the same port and the kernel spreads connections.
func listen(ctx context.Context, addr string, shared bool) (net.Listener, error) {
	var lc net.ListenConfig
	if shared {
		lc.Control = func(network, address string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) { serr = setReusePort(fd) })
			if err != nil {
				return err
			}
			return serr
		}
	}
	return lc.Listen(ctx, "tcp", addr)
}
