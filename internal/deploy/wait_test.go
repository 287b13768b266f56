package deploy

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

// Failures a real control plane with KWOK does not produce on demand: an
// image that cannot be pulled, a Job out of retries.
func TestWaitReadyReportsWhy(t *testing.T) {
	one := int32(1)
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "rekor"}}
	stuck := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "rekor-server", Namespace: "rekor-system", Generation: 1},
		Spec:       appsv1.DeploymentSpec{Replicas: &one, Selector: sel},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 0},
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "rekor-server-abc", Namespace: "rekor-system", Labels: map[string]string{"app": "rekor"}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
			Name:  "rekor-server",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "back-off pulling image"}},
		}}},
	}
	failed := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "createtree", Namespace: "rekor-system"},
		Status: batchv1.JobStatus{Failed: 6, Conditions: []batchv1.JobCondition{{
			Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit",
		}}},
	}
	ready := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "fulcio-server", Namespace: "fulcio-system", Generation: 2},
		Spec:       appsv1.DeploymentSpec{Replicas: &one},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1},
	}
	tests := []struct {
		name    string
		objs    []runtime.Object
		ns      []string
		wantErr error
		want    string // in the error
	}{
		{"image pull", []runtime.Object{stuck, pod, ready}, []string{"rekor-system", "fulcio-system"}, nil, "ImagePullBackOff: back-off pulling image"},
		{"job failed", []runtime.Object{failed, ready}, []string{"rekor-system", "fulcio-system"}, errJobFailed, "BackoffLimitExceeded"},
		{"all ready", []runtime.Object{ready}, []string{"fulcio-system"}, nil, ""},
		{"nothing yet", nil, []string{"tuf-system"}, nil, "no workloads found yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := &cluster{Client: fake.NewClientset(tt.objs...)}
			err := cl.WaitReady(t.Context(), tt.ns, 1500*time.Millisecond, nil)
			switch {
			case tt.want == "":
				if err != nil {
					t.Fatalf("WaitReady = %v, want nil", err)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("WaitReady = %v, want %v mentioning %q", err, tt.wantErr, tt.want)
				}
			default:
				var nr *notReadyError
				if !errors.As(err, &nr) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("WaitReady = %v, want a NotReadyError mentioning %q", err, tt.want)
				}
			}
		})
	}
}

func TestProgressLines(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, false, 2)
	s := p.Start("cluster")
	s.Update("connecting")
	s.Done("ready")
	s = p.Start("chart")
	if err := s.Fail(errors.New("installing: boom\nmore detail")); err == nil {
		t.Fatal("Fail returned nil")
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want one per step:\n%s", len(lines), b.String())
	}
	for i, want := range []string{"[1/2] cluster", "[2/2] chart"} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d = %q, want %q", i, lines[i], want)
		}
	}
	if !strings.Contains(lines[0], "ok") || !strings.Contains(lines[0], "ready") {
		t.Errorf("line 0 = %q, want ok and the result", lines[0])
	}
	if !strings.Contains(lines[1], "FAILED") || !strings.Contains(lines[1], "installing: boom ...") {
		t.Errorf("line 1 = %q, want FAILED with the first line of the error", lines[1])
	}
	// On a terminal the running step's line is drawn (and redrawn) in place,
	// then replaced by its result.
	var tb bytes.Buffer
	tp := newProgress(&tb, true, 0)
	ts := tp.Start("rollouts")
	ts.Update("waiting for rekor-server")
	ts.Done("ready")
	out := tb.String()
	if !strings.Contains(out, "\r\033[K") || !strings.HasSuffix(out, "\n") || !strings.Contains(out, "ready") {
		t.Errorf("terminal output = %q, want in-place redraws ending in the result line", out)
	}
}
