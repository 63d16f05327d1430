package testutil

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Versity is a versitygw S3 gateway over a temporary directory, started for
// a test.
type Versity struct {
	t         testing.TB
	bin       string
	dir       string
	port      int
	AccessKey string
	SecretKey string
	Region    string

	mu   sync.Mutex // guards cmd and done
	cmd  *exec.Cmd
	done chan struct{}

	logMu sync.Mutex // guards log
	log   bytes.Buffer
}

// versityBin finds versitygw on PATH or in the Go bin directory where
// `go install` puts it.
func versityBin() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	var dirs []string
	if d := os.Getenv("GOBIN"); d != "" {
		dirs = append(dirs, d)
	}
	if d := os.Getenv("GOPATH"); d != "" {
		dirs = append(dirs, filepath.Join(filepath.SplitList(d)[0], "bin"))
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		dirs = append(dirs, filepath.Join(string(bytes.TrimSpace(out)), "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "versitygw")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("versitygw not found on PATH or in the Go bin directory (run scripts/install-test-deps.sh)")
}

// StartVersity starts versitygw's posix backend on a free loopback port and
// waits until it answers. It is stopped when the test ends.
func StartVersity(t testing.TB) *Versity {
	t.Helper()
	bin, err := versityBin()
	if err != nil {
		t.Fatal(err)
	}
	v := &Versity{t: t, bin: bin, dir: t.TempDir(), port: FreePort(t),
		AccessKey: "sluicetest", SecretKey: "sluicetestsecret0123456789", Region: "us-east-1"}
	v.Start()
	t.Cleanup(func() {
		v.Stop()
		if t.Failed() {
			t.Logf("versitygw log:\n%s", v.logs())
		}
	})
	return v
}

// Start starts the gateway (again) on its port and directory.
func (v *Versity) Start() {
	v.t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cmd != nil {
		return
	}
	cmd := exec.Command(v.bin, "--port", v.Addr(), "posix", v.dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+v.AccessKey, "ROOT_SECRET_KEY="+v.SecretKey)
	cmd.Stdout, cmd.Stderr = &lockedWriter{mu: &v.logMu, w: &v.log}, &lockedWriter{mu: &v.logMu, w: &v.log}
	if err := cmd.Start(); err != nil {
		v.t.Fatalf("start versitygw: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	v.cmd, v.done = cmd, done
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", v.Addr(), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			v.t.Fatalf("versitygw exited during start:\n%s", v.logs())
		default:
		}
		if time.Now().After(deadline) {
			v.t.Fatalf("versitygw did not listen within 30s:\n%s", v.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (v *Versity) logs() string {
	v.logMu.Lock()
	defer v.logMu.Unlock()
	return v.log.String()
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Stop kills the gateway (SIGKILL: to clients it vanishes at once). Safe to
// call when stopped.
func (v *Versity) Stop() {
	v.mu.Lock()
	cmd, done := v.cmd, v.done
	v.cmd = nil
	v.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
}

// Addr is the gateway's host:port.
func (v *Versity) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(v.port)) }

// Endpoint is the gateway's base URL.
func (v *Versity) Endpoint() string { return "http://" + v.Addr() }

// Env is the standard AWS environment that gives an S3 client (or a sluice
// process) the gateway's credentials.
func (v *Versity) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + v.AccessKey, "AWS_SECRET_ACCESS_KEY=" + v.SecretKey,
		"AWS_REGION=" + v.Region, "AWS_EC2_METADATA_DISABLED=true"}
}

// SetEnv sets Env in this process for the rest of the test.
func (v *Versity) SetEnv(t *testing.T) {
	for _, kv := range v.Env() {
		k, val, _ := strings.Cut(kv, "=")
		t.Setenv(k, val)
	}
}

// NewBucket creates a bucket and returns its s3:// URL in the form sluice
// takes: endpoint, region and path-style addressing in the query.
func (v *Versity) NewBucket(t testing.TB, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := s3.New(s3.Options{
		BaseEndpoint: aws.String(v.Endpoint()),
		Region:       v.Region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(v.AccessKey, v.SecretKey, ""),
	})
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return v.BucketURL(name, v.Addr())
}

// BucketURL is the s3:// URL of bucket name reached through addr (the
// gateway's own address, or a proxy's in front of it).
func (v *Versity) BucketURL(name, addr string) string {
	q := url.Values{}
	q.Set("endpoint", "http://"+addr)
	q.Set("region", v.Region)
	q.Set("use_path_style", "true")
	return "s3://" + name + "?" + q.Encode()
}
