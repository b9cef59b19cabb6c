// Command delayline is the bench's link emulator: a point-to-point link between two network
// namespaces made of two TUN devices, with a fixed one-way delay in each direction. This machine's
// kernel has tbf but no netem, so the delay is added here, packet by packet, while the bench puts a
// tbf qdisc on each TUN device for the rate. The kernels at both ends run real TCP over it (slow start,
// windows, ACK clocking all see the real round trip), which a delaying TCP proxy would not give.
//
// Usage: delayline -ns-a NAME -dev-a tunA -ns-b NAME -dev-b tunB -delay 20ms
//
// It creates each device inside its namespace (/var/run/netns/NAME), prints "ready" on stdout, and
// forwards until it gets SIGTERM or SIGINT; the devices disappear with the process.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

const (
	tunSetIff = 0x400454ca // TUNSETIFF
	iffTun    = 0x0001
	iffNoPi   = 0x1000
	// Each packet carries a virtio-net header, so the kernels hand over TCP segmentation offload
	// (TSO) super-packets instead of MTU-sized ones: the link keeps a 1500-byte MTU for TCP (its
	// window grows in 1448-byte segments, as on a real network) while the delay line moves ~40x
	// fewer packets. The header is passed through unchanged; the receiving kernel segments.
	iffVnetHdr    = 0x4000
	tunSetOffload = 0x400454d0 // TUNSETOFFLOAD
	tunFCsum      = 0x01
	tunFTso4      = 0x02
	tunFTso6      = 0x04
	// A TSO super-packet is at most 64 KiB plus the virtio-net header.
	maxPacket = 65536 + 64
	// Packets in flight per direction: the delay times the rate over the smallest packet, with margin.
	queueDepth = 1 << 16
)

type packet struct {
	due  time.Time
	data []byte
}

func main() {
	nsA := flag.String("ns-a", "", "network namespace of device A")
	devA := flag.String("dev-a", "", "name of TUN device A")
	nsB := flag.String("ns-b", "", "network namespace of device B")
	devB := flag.String("dev-b", "", "name of TUN device B")
	delay := flag.Duration("delay", 0, "one-way delay added in each direction")
	flag.Parse()
	if *nsA == "" || *devA == "" || *nsB == "" || *devB == "" {
		fmt.Fprintln(os.Stderr, "delayline: -ns-a, -dev-a, -ns-b and -dev-b are required")
		os.Exit(2)
	}
	a, err := openTunIn(*nsA, *devA)
	if err != nil {
		fmt.Fprintf(os.Stderr, "delayline: %s in %s: %v\n", *devA, *nsA, err)
		os.Exit(1)
	}
	b, err := openTunIn(*nsB, *devB)
	if err != nil {
		fmt.Fprintf(os.Stderr, "delayline: %s in %s: %v\n", *devB, *nsB, err)
		os.Exit(1)
	}
	go forward(a, b, *delay)
	go forward(b, a, *delay)
	fmt.Println("ready")
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}

// openTunIn creates a TUN device inside a named network namespace. setns applies to one OS thread, so
// the work runs on a locked thread that is never unlocked: Go discards it when the goroutine ends and
// no other goroutine ever runs in that namespace. The file descriptor stays valid everywhere.
func openTunIn(ns, dev string) (int, error) {
	type result struct {
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		nsFd, err := syscall.Open("/var/run/netns/"+ns, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			done <- result{-1, err}
			return
		}
		defer syscall.Close(nsFd)
		if _, _, errno := syscall.RawSyscall(sysSetns, uintptr(nsFd), syscall.CLONE_NEWNET, 0); errno != 0 {
			done <- result{-1, fmt.Errorf("setns: %w", errno)}
			return
		}
		fd, err := syscall.Open("/dev/net/tun", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
		if err != nil {
			done <- result{-1, err}
			return
		}
		var ifr [40]byte
		copy(ifr[:15], dev)
		*(*uint16)(unsafe.Pointer(&ifr[16])) = iffTun | iffNoPi | iffVnetHdr
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), tunSetIff, uintptr(unsafe.Pointer(&ifr[0]))); errno != 0 {
			syscall.Close(fd)
			done <- result{-1, fmt.Errorf("TUNSETIFF: %w", errno)}
			return
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), tunSetOffload, tunFCsum|tunFTso4|tunFTso6); errno != 0 {
			syscall.Close(fd)
			done <- result{-1, fmt.Errorf("TUNSETOFFLOAD: %w", errno)}
			return
		}
		done <- result{fd, nil}
	}()
	r := <-done
	return r.fd, r.err
}

// forward reads packets from one device and writes each to the other once its delay has passed. The
// delay is the same for every packet, so arrival order is due order and a FIFO is the whole schedule.
func forward(from, to int, delay time.Duration) {
	queue := make(chan packet, queueDepth)
	// Packets due within this much of now go out without a sleep of their own: a burst of ACKs
	// microseconds apart costs one wakeup instead of one each. 0.5% of the delay (100 µs at 20 ms)
	// is far below what TCP can tell from jitter.
	slack := delay / 200
	go func() {
		for p := range queue {
			if wait := time.Until(p.due); wait > slack {
				time.Sleep(wait)
			}
			// A write can fail while the far device is still coming up or going away; the packet
			// is lost, as on a real link, and TCP resends it.
			_, _ = syscall.Write(to, p.data)
		}
	}()
	// One read buffer, and each packet copied out at its own size: most packets are ACKs of ~60 bytes,
	// and a fresh 64 KiB buffer per packet made the garbage collector the delay line's main work
	// (16 CPU-seconds to carry 422 MB, on the 2 cores the measured programs need).
	buf := make([]byte, maxPacket)
	for {
		n, err := syscall.Read(from, buf)
		if err != nil {
			if err == syscall.EINTR || err == syscall.EAGAIN {
				continue
			}
			fmt.Fprintf(os.Stderr, "delayline: read: %v\n", err)
			os.Exit(1)
		}
		data := make([]byte, n)
		copy(data, buf[:n])
		queue <- packet{due: time.Now().Add(delay), data: data}
	}
}
