// Command delayproxy forwards TCP connections from a loopback port to a
// target, delaying every byte by half a round trip in each direction, so
// bench/lightning.sh can put a metadata store "in another zone" on one
// machine (this kernel has no netem). Order and throughput are kept: each
// direction reads as fast as the peer sends and writes each chunk once
// its delay has passed. A benchmark tool, not a network emulator: no loss,
// no jitter, no bandwidth limit.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to accept connections on")
	target := flag.String("target", "", "host:port to forward to")
	rtt := flag.Duration("rtt", 2*time.Millisecond, "round trip added: half of it each way")
	flag.Parse()
	if *target == "" {
		log.Fatal("delayproxy: --target is required")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ln.Addr().String()) // the port, for the script that started it
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go serve(c, *target, *rtt/2)
	}
}

func serve(c net.Conn, target string, oneWay time.Duration) {
	u, err := net.Dial("tcp", target)
	if err != nil {
		c.Close()
		return
	}
	for _, tc := range []net.Conn{c, u} {
		tc.(*net.TCPConn).SetNoDelay(true)
	}
	done := make(chan struct{}, 2)
	go func() { pipe(u, c, oneWay); done <- struct{}{} }()
	go func() { pipe(c, u, oneWay); done <- struct{}{} }()
	<-done
	c.Close()
	u.Close()
	<-done
}

type chunk struct {
	due  time.Time
	data []byte
}

// pipe copies src to dst, each chunk delay after it was read.
func pipe(dst io.Writer, src io.Reader, delay time.Duration) {
	q := make(chan chunk, 1024)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 64<<10)
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{due: time.Now().Add(delay), data: buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for ch := range q {
		time.Sleep(time.Until(ch.due))
		if _, err := dst.Write(ch.data); err != nil {
			for range q { // let the reader finish
			}
			return
		}
	}
}
