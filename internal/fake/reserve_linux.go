package fake

import (
	"net"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// listenConfig sets SO_REUSEPORT on the platform's listeners: the
// connections a closed listener leaves in TIME_WAIT carry the option, so
// they do not keep reserve from binding the port again.
var listenConfig = net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
	var err error
	if cerr := c.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, unix.SO_REUSEPORT, 1) }); cerr != nil {
		return cerr
	}
	return err
}}

// reserve binds a socket to addr without listening on it: the port stays
// taken, and a connection to it is refused. Without SO_REUSEADDR on it,
// a listener of another program (Go sets SO_REUSEADDR) cannot bind the
// port meanwhile. It returns nil when it cannot bind (a client's
// connection may have taken the port as its own end in the meantime);
// listenAgain then retries the address instead.
func reserve(addr string) *os.File {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return nil
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	if syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, unix.SO_REUSEPORT, 1) != nil ||
		syscall.Bind(fd, &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}) != nil {
		syscall.Close(fd)
		return nil
	}
	return os.NewFile(uintptr(fd), addr)
}

// listenAgain listens on a socket from reserve, or on addr when there is
// none.
func listenAgain(reserved *os.File, addr string) (net.Listener, error) {
	if reserved == nil {
		return listenRetry(addr)
	}
	defer reserved.Close()
	rc, err := reserved.SyscallConn()
	if err != nil {
		return nil, err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = syscall.Listen(int(fd), syscall.SOMAXCONN) }); err != nil {
		return nil, err
	}
	if lerr != nil {
		return nil, lerr
	}
	return net.FileListener(reserved)
}
