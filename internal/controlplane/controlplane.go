// Package controlplane runs a real Kubernetes control plane on loopback,
// for integration tests (through testenv.Cluster) and for trying bootstrap
// by hand (scripts/k8s/cluster). It is a package of its own so that tools
// reading the local stack do not link client-go.
package controlplane

// A real Kubernetes control plane on loopback.
//
// Debian packages no kube-apiserver, and no container runtime runs here, so the
// control plane is built from the Go module proxy by scripts/k8s/build.sh into
// the tool cache and started here as plain processes:
//
//	etcd ─── kube-apiserver ─┬─ kube-controller-manager  (ReplicaSets, Pods, Jobs, namespaces)
//	                          ├─ kube-scheduler           (binds Pods to the node)
//	                          └─ kwok                     (one fake Node; marks Pods Running/Ready,
//	                                                       Job Pods Succeeded; nothing executes)
//
// With the three controllers, Deployments roll out and Jobs complete exactly as
// their status machinery says they would, which is what Helm's and the
// bootstrap's readiness checks look at. Containers never run: anything a
// container would have written (the TUF root Secret, say) a test provides.
//
// Every process listens on 127.0.0.1 on free ports, keeps its data in a
// temporary directory and is stopped (by its own PID) when the test ends.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigil-tlog/vigil/internal/stack"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Binaries are the tool-cache binaries a [ControlPlane] runs, all
// built by scripts/k8s/build.sh.
var Binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// ErrBinaries reports that scripts/k8s/build.sh has not built the
// binaries of the test control plane.
var ErrBinaries = errors.New("control plane binaries missing; run scripts/k8s/build.sh")

// ControlPlane is a running loopback Kubernetes control plane with one fake
// (KWOK) node. Stop ends it; it is not safe for concurrent Stop calls.
type ControlPlane struct {
	// Dir holds the PKI, data and process logs (logs/<name>.log).
	Dir string
	// Kubeconfig is an admin (system:masters) kubeconfig file with one
	// context, "vigil-test".
	Kubeconfig string
	// Server is the API server URL, https://127.0.0.1:<port>.
	Server string

	mu    sync.Mutex // guards procs
	procs []*proc
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process exited
	err  error         // Wait's result; read after done
}

// Options configure [Start].
type Options struct {
	// BinDir holds the binaries; default $VIGIL_CACHE/bin.
	BinDir string
	// Dir is the working directory; it must exist. Default: a new temporary
	// directory, removed by Stop.
	Dir string
	// KWOKStages is the KWOK stage file; default scripts/k8s/kwok-stages.yaml
	// found from the current directory upwards.
	KWOKStages string
	// Logf reports progress; nil is quiet.
	Logf func(format string, args ...any)
}

// Start starts etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and KWOK on loopback, creates the fake node and four 10Gi
// hostPath PersistentVolumes (there is no provisioner), and returns once the
// API server is ready and the node is Ready. On error everything started is
// stopped again.
func Start(ctx context.Context, opts Options) (_ *ControlPlane, err error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if opts.BinDir == "" {
		opts.BinDir = filepath.Join(stack.CacheDir(), "bin")
	}
	for _, b := range Binaries {
		if _, err := os.Stat(filepath.Join(opts.BinDir, b)); err != nil {
			return nil, fmt.Errorf("%w: %s", ErrBinaries, filepath.Join(opts.BinDir, b))
		}
	}
	if opts.KWOKStages == "" {
		root, err := RepoRoot()
		if err != nil {
			return nil, err
		}
		opts.KWOKStages = filepath.Join(root, "scripts", "k8s", "kwok-stages.yaml")
	}
	removeDir := false
	if opts.Dir == "" {
		d, err := os.MkdirTemp("", "vigil-k8s-")
		if err != nil {
			return nil, fmt.Errorf("creating control plane directory: %w", err)
		}
		opts.Dir, removeDir = d, true
	}
	cp := &ControlPlane{Dir: opts.Dir}
	defer func() {
		if err != nil {
			cp.Stop()
			if removeDir {
				os.RemoveAll(opts.Dir)
			}
		}
	}()
	t0 := time.Now()
	for _, d := range []string{"pki", "logs", "etcd", "pv"} {
		if err := os.MkdirAll(filepath.Join(opts.Dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("creating %s: %w", d, err)
		}
	}
	pki, err := writeControlPlanePKI(filepath.Join(opts.Dir, "pki"))
	if err != nil {
		return nil, fmt.Errorf("writing control plane PKI: %w", err)
	}
	ports, err := FreePorts(3)
	if err != nil {
		return nil, err
	}
	etcdClient := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	etcdPeer := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	cp.Server = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	bin := func(n string) string { return filepath.Join(opts.BinDir, n) }

	if err := cp.start(opts.Dir, "etcd", bin("etcd"),
		"--name=t", "--data-dir="+filepath.Join(opts.Dir, "etcd"),
		"--listen-client-urls="+etcdClient, "--advertise-client-urls="+etcdClient,
		"--listen-peer-urls="+etcdPeer, "--initial-advertise-peer-urls="+etcdPeer,
		"--initial-cluster=t="+etcdPeer, "--unsafe-no-fsync", "--quota-backend-bytes=2147483648",
		"--log-level=warn",
	); err != nil {
		return nil, err
	}
	if err := cp.waitHTTP(ctx, "etcd", etcdClient+"/health", http.DefaultClient); err != nil {
		return nil, err
	}
	if err := cp.start(opts.Dir, "kube-apiserver", bin("kube-apiserver"),
		"--etcd-servers="+etcdClient,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[2]), "--advertise-address=127.0.0.1",
		"--cert-dir="+filepath.Join(opts.Dir, "pki", "apiserver-generated"),
		"--tls-cert-file="+pki.apiserverCert, "--tls-private-key-file="+pki.apiserverKey,
		"--client-ca-file="+pki.caCert,
		"--service-account-key-file="+pki.saPub, "--service-account-signing-key-file="+pki.saKey,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		// With --advertise-address=127.0.0.1 alone the endpoint reconciler
		// refuses to start.
		"--endpoint-reconciler-type=none",
		"--service-cluster-ip-range=10.0.0.0/24", "--authorization-mode=Node,RBAC", "--allow-privileged=true",
	); err != nil {
		return nil, err
	}
	if err := writeKubeconfig(filepath.Join(opts.Dir, "kubeconfig"), cp.Server, pki); err != nil {
		return nil, err
	}
	cp.Kubeconfig = filepath.Join(opts.Dir, "kubeconfig")
	apiClient, err := pki.adminHTTPClient()
	if err != nil {
		return nil, err
	}
	if err := cp.waitHTTP(ctx, "kube-apiserver", cp.Server+"/readyz", apiClient); err != nil {
		return nil, err
	}
	logf("kube-apiserver ready at %s after %v", cp.Server, time.Since(t0).Round(time.Millisecond))

	kc := "--kubeconfig=" + cp.Kubeconfig
	if err := cp.start(opts.Dir, "kube-controller-manager", bin("kube-controller-manager"), kc,
		"--leader-elect=false", "--secure-port=0", "--controllers=*",
		"--service-account-private-key-file="+pki.saKey, "--root-ca-file="+pki.caCert,
		"--cluster-signing-cert-file="+pki.caCert, "--cluster-signing-key-file="+pki.caKey,
		"--use-service-account-credentials=false",
	); err != nil {
		return nil, err
	}
	if err := cp.start(opts.Dir, "kube-scheduler", bin("kube-scheduler"), kc,
		"--leader-elect=false", "--secure-port=0",
	); err != nil {
		return nil, err
	}
	if err := cp.start(opts.Dir, "kwok", bin("kwok"), kc,
		"--config="+opts.KWOKStages, "--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--node-ip=127.0.0.2", "--cidr=10.244.0.1/16", "--node-lease-duration-seconds=40",
	); err != nil {
		return nil, err
	}
	if err := cp.seed(ctx, filepath.Join(opts.Dir, "pv")); err != nil {
		return nil, err
	}
	logf("control plane with KWOK node ready after %v (logs in %s)", time.Since(t0).Round(time.Millisecond), filepath.Join(opts.Dir, "logs"))
	return cp, nil
}

// Stop stops the processes in reverse start order: SIGTERM, then SIGKILL
// after 10 seconds. It returns the first error other than the expected
// termination; calling it again does nothing.
func (cp *ControlPlane) Stop() error {
	cp.mu.Lock()
	procs := cp.procs
	cp.procs = nil
	cp.mu.Unlock()
	var first error
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			if first == nil {
				first = fmt.Errorf("%s did not stop on SIGTERM within 10s; killed", p.name)
			}
		}
	}
	return first
}

// start runs one process with its output in logs/<name>.log.
func (cp *ControlPlane) start(dir, name, path string, args ...string) error {
	lf, err := os.Create(filepath.Join(dir, "logs", name+".log"))
	if err != nil {
		return fmt.Errorf("creating log for %s: %w", name, err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		lf.Close()
		return fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	cp.mu.Lock()
	cp.procs = append(cp.procs, p)
	cp.mu.Unlock()
	return nil
}

// waitHTTP polls url until it answers 200, the process named exits, or 60
// seconds pass.
func (cp *ControlPlane) waitHTTP(ctx context.Context, name, url string, client *http.Client) error {
	cp.mu.Lock()
	p := cp.procs[len(cp.procs)-1]
	cp.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		select {
		case <-p.done:
			return fmt.Errorf("%s exited (%v) before it was ready; see %s", name, p.err, filepath.Join(cp.Dir, "logs", name+".log"))
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s at %s: %w (last: %v)", name, url, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// seed creates the fake node and a PersistentVolume, then waits for KWOK to
// mark the node Ready.
func (cp *ControlPlane) seed(ctx context.Context, pvDir string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", cp.Kubeconfig)
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "kwok-node-0",
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{
				"kubernetes.io/hostname": "kwok-node-0", "kubernetes.io/os": "linux",
				"kubernetes.io/arch": "amd64", "type": "kwok",
			},
		},
		Status: corev1.NodeStatus{Allocatable: capacity, Capacity: capacity},
	}
	if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating node: %w", err)
	}
	// Static volumes, as there is no provisioner: enough for the scaffold's
	// MySQL and the monitor's state with room to spare.
	for i := range 4 {
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("kwok-pv-%d", i)},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: filepath.Join(pvDir, strconv.Itoa(i))}},
			},
		}
		if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating persistent volume: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		n, err := cs.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
		if err == nil {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for KWOK to mark node %s Ready: %w (see %s)", node.Name, ctx.Err(), filepath.Join(cp.Dir, "logs", "kwok.log"))
		case <-tick.C:
		}
	}
}

// RepoRoot finds the directory holding the project's go.mod, searching from
// the current directory upwards.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for range 64 {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/vigil-tlog/vigil\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("finding the repository root: no go.mod of github.com/vigil-tlog/vigil above the current directory")
}

// FreePorts returns n free TCP ports on 127.0.0.1 (the listeners are
// closed again; a port may be taken by another process before it is used).
func FreePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// controlPlanePKI are the files of the control plane's PKI.
type controlPlanePKI struct {
	caCert, caKey               string
	apiserverCert, apiserverKey string
	adminCert, adminKey         string
	saKey, saPub                string
}

func writeControlPlanePKI(dir string) (*controlPlanePKI, error) {
	p := &controlPlanePKI{}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now().Add(-time.Hour)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "vigil-test-kubernetes-ca"},
		NotBefore:             now,
		NotAfter:              now.Add(48 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	issue := func(serial int64, tmpl *x509.Certificate) ([]byte, *ecdsa.PrivateKey, error) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = now, now.Add(48*time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		return der, k, err
	}
	apiDER, apiKey, err := issue(2, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
	})
	if err != nil {
		return nil, err
	}
	adminDER, adminKey, err := issue(3, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "vigil-test-admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, err
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	write := func(name, typ string, der []byte) (string, error) {
		path := filepath.Join(dir, name)
		return path, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
	}
	writeKey := func(name string, k any) (string, error) {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return "", err
		}
		return write(name, "PRIVATE KEY", der)
	}
	for _, w := range []struct {
		dst  *string
		name string
		f    func(string) (string, error)
	}{
		{&p.caCert, "ca.crt", func(n string) (string, error) { return write(n, "CERTIFICATE", caDER) }},
		{&p.caKey, "ca.key", func(n string) (string, error) { return writeKey(n, caKey) }},
		{&p.apiserverCert, "apiserver.crt", func(n string) (string, error) { return write(n, "CERTIFICATE", apiDER) }},
		{&p.apiserverKey, "apiserver.key", func(n string) (string, error) { return writeKey(n, apiKey) }},
		{&p.adminCert, "admin.crt", func(n string) (string, error) { return write(n, "CERTIFICATE", adminDER) }},
		{&p.adminKey, "admin.key", func(n string) (string, error) { return writeKey(n, adminKey) }},
		{&p.saKey, "sa.key", func(n string) (string, error) { return writeKey(n, saKey) }},
		{&p.saPub, "sa.pub", func(n string) (string, error) { return write(n, "PUBLIC KEY", saPub) }},
	} {
		path, err := w.f(w.name)
		if err != nil {
			return nil, fmt.Errorf("writing %s: %w", w.name, err)
		}
		*w.dst = path
	}
	return p, nil
}

func (p *controlPlanePKI) adminHTTPClient() (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(p.adminCert, p.adminKey)
	if err != nil {
		return nil, fmt.Errorf("loading admin certificate: %w", err)
	}
	caPEM, err := os.ReadFile(p.caCert)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}},
	}, nil
}

func writeKubeconfig(path, server string, p *controlPlanePKI) error {
	read := func(f string) (string, error) {
		b, err := os.ReadFile(f)
		return string(b), err
	}
	ca, err := read(p.caCert)
	if err != nil {
		return err
	}
	crt, err := read(p.adminCert)
	if err != nil {
		return err
	}
	key, err := read(p.adminKey)
	if err != nil {
		return err
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	kc := strings.Join([]string{
		"apiVersion: v1",
		"kind: Config",
		"clusters:",
		"- name: vigil-test",
		"  cluster:",
		"    server: " + server,
		"    certificate-authority-data: " + b64(ca),
		"users:",
		"- name: vigil-test-admin",
		"  user:",
		"    client-certificate-data: " + b64(crt),
		"    client-key-data: " + b64(key),
		"contexts:",
		"- name: vigil-test",
		"  context: {cluster: vigil-test, user: vigil-test-admin}",
		"current-context: vigil-test",
		"",
	}, "\n")
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}
	return nil
}
