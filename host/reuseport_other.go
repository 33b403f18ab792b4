//go:build !linux

package host

// setReusePort does nothing where SO_REUSEPORT is not known: a second
// worker then fails to listen, and the cluster reports it.
func setReusePort(fd uintptr) error { return nil }
