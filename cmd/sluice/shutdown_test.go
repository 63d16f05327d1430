package main

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// TestShutdownContextEndsOnSecondSignal: during a graceful shutdown, another
// SIGTERM ends the shutdown's bound at once (forcing the exit), long before
// the timeout.
func TestShutdownContextEndsOnSecondSignal(t *testing.T) {
	ctx, finish := shutdownContext(time.Hour)
	defer finish()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a second SIGTERM did not end the shutdown bound")
	}
}

// TestShutdownContextBound: without a signal the bound is the timeout.
func TestShutdownContextBound(t *testing.T) {
	ctx, finish := shutdownContext(50 * time.Millisecond)
	defer finish()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the shutdown bound did not end after its timeout")
	}
}
