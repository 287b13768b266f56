package deploy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// workload is the readiness of one Deployment, StatefulSet or Job.
type workload struct {
	Kind, Namespace, Name string
	Ready                 bool
	// Failed is set for a Job that will not complete (backoff limit
	// reached): waiting longer cannot help.
	Failed bool
	// Reason says why it is not ready: replica counts and, for its pods,
	// the waiting reason or failing condition Kubernetes reports.
	Reason string
}

func (w workload) String() string {
	s := fmt.Sprintf("%s %s/%s", strings.ToLower(w.Kind), w.Namespace, w.Name)
	if w.Ready {
		return s + ": ready"
	}
	return s + ": " + w.Reason
}

// notReadyError lists the workloads that did not become ready in time.
type notReadyError struct {
	Waited   time.Duration
	NotReady []workload
}

func (e *notReadyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d workloads not ready after %v", len(e.NotReady), e.Waited.Round(time.Second))
	for _, w := range e.NotReady {
		b.WriteString("\n  ")
		b.WriteString(w.String())
	}
	return b.String()
}

// errJobFailed reports a Job that reached its backoff limit.
var errJobFailed = errors.New("job failed")

// Workloads lists the Deployments, StatefulSets and Jobs in namespaces with
// their readiness. A Job owned by a CronJob is skipped (a later run may fix
// it).
func (c *cluster) Workloads(ctx context.Context, namespaces []string) ([]workload, error) {
	var out []workload
	for _, ns := range namespaces {
		deps, err := c.Client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing deployments in %s: %w", ns, err)
		}
		for i := range deps.Items {
			out = append(out, c.deploymentState(ctx, &deps.Items[i]))
		}
		sts, err := c.Client.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing statefulsets in %s: %w", ns, err)
		}
		for i := range sts.Items {
			out = append(out, c.statefulSetState(ctx, &sts.Items[i]))
		}
		jobs, err := c.Client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing jobs in %s: %w", ns, err)
		}
		for i := range jobs.Items {
			j := &jobs.Items[i]
			if owner := metav1.GetControllerOf(j); owner != nil && owner.Kind == "CronJob" {
				continue
			}
			out = append(out, c.jobState(ctx, j))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Name < b.Name
	})
	return out, nil
}

func (c *cluster) deploymentState(ctx context.Context, d *appsv1.Deployment) workload {
	w := workload{Kind: "Deployment", Namespace: d.Namespace, Name: d.Name}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	switch {
	case st.ObservedGeneration < d.Generation:
		w.Reason = "spec change not yet observed"
	case st.UpdatedReplicas < want:
		w.Reason = fmt.Sprintf("%d/%d replicas updated", st.UpdatedReplicas, want)
	case st.Replicas > st.UpdatedReplicas:
		w.Reason = fmt.Sprintf("%d old replicas pending termination", st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < want:
		w.Reason = fmt.Sprintf("%d/%d replicas available", st.AvailableReplicas, want)
	default:
		w.Ready = true
		return w
	}
	for _, cond := range st.Conditions {
		if cond.Type == appsv1.DeploymentProgressing && cond.Status == corev1.ConditionFalse {
			w.Reason += "; " + cond.Reason + ": " + cond.Message
		}
		if cond.Type == appsv1.DeploymentReplicaFailure && cond.Status == corev1.ConditionTrue {
			w.Reason += "; " + cond.Reason + ": " + cond.Message
		}
	}
	if why := c.podsWhy(ctx, d.Namespace, d.Spec.Selector); why != "" {
		w.Reason += "; " + why
	}
	return w
}

func (c *cluster) statefulSetState(ctx context.Context, s *appsv1.StatefulSet) workload {
	w := workload{Kind: "StatefulSet", Namespace: s.Namespace, Name: s.Name}
	want := int32(1)
	if s.Spec.Replicas != nil {
		want = *s.Spec.Replicas
	}
	st := s.Status
	switch {
	case st.ObservedGeneration < s.Generation:
		w.Reason = "spec change not yet observed"
	case st.ReadyReplicas < want:
		w.Reason = fmt.Sprintf("%d/%d replicas ready", st.ReadyReplicas, want)
	case st.UpdateRevision != "" && st.CurrentRevision != st.UpdateRevision:
		w.Reason = "rolling update in progress"
	default:
		w.Ready = true
		return w
	}
	if why := c.podsWhy(ctx, s.Namespace, s.Spec.Selector); why != "" {
		w.Reason += "; " + why
	}
	return w
}

func (c *cluster) jobState(ctx context.Context, j *batchv1.Job) workload {
	w := workload{Kind: "Job", Namespace: j.Namespace, Name: j.Name}
	for _, cond := range j.Status.Conditions {
		if cond.Status != corev1.ConditionTrue {
			continue
		}
		switch cond.Type {
		case batchv1.JobComplete:
			w.Ready = true
			return w
		case batchv1.JobFailed:
			w.Failed = true
			w.Reason = fmt.Sprintf("failed: %s: %s", cond.Reason, cond.Message)
			return w
		}
	}
	w.Reason = fmt.Sprintf("not complete (%d active, %d succeeded, %d failed)", j.Status.Active, j.Status.Succeeded, j.Status.Failed)
	if why := c.podsWhy(ctx, j.Namespace, j.Spec.Selector); why != "" {
		w.Reason += "; " + why
	}
	return w
}

// podsWhy summarises why the pods matching sel are not ready: the first
// container waiting reason (ImagePullBackOff, CrashLoopBackOff, ...) or pod
// condition message (Unschedulable: ...) it finds.
func (c *cluster) podsWhy(ctx context.Context, ns string, sel *metav1.LabelSelector) string {
	if sel == nil {
		return ""
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() || s.String() == labels.Nothing().String() {
		return ""
	}
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: s.String()})
	if err != nil {
		return ""
	}
	if len(pods.Items) == 0 {
		return "no pods yet"
	}
	for _, p := range pods.Items {
		for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
			if wt := cs.State.Waiting; wt != nil && wt.Reason != "" && wt.Reason != "PodInitializing" {
				msg := wt.Reason
				if wt.Message != "" {
					msg += ": " + wt.Message
				}
				return fmt.Sprintf("pod %s container %s: %s", p.Name, cs.Name, msg)
			}
		}
		for _, cond := range p.Status.Conditions {
			if cond.Status == corev1.ConditionFalse && cond.Reason != "" {
				return fmt.Sprintf("pod %s %s: %s %s", p.Name, cond.Type, cond.Reason, cond.Message)
			}
		}
		if p.Status.Phase == corev1.PodPending {
			return fmt.Sprintf("pod %s pending", p.Name)
		}
	}
	return ""
}

// WaitReady polls the workloads in namespaces every second until all are
// ready, a Job fails (an error wrapping [errJobFailed]), or timeout passes (a
// [*notReadyError]). report, if not nil, is called after each poll with the
// workloads still not ready.
func (c *cluster) WaitReady(ctx context.Context, namespaces []string, timeout time.Duration, report func(notReady []workload)) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var notReady []workload
	for {
		ws, err := c.Workloads(ctx, namespaces)
		if err != nil && ctx.Err() == nil {
			return err
		}
		if err == nil {
			notReady = notReady[:0]
			for _, w := range ws {
				if w.Failed {
					return fmt.Errorf("waiting for %s/%s: %w: %s", w.Namespace, w.Name, errJobFailed, w.Reason)
				}
				if !w.Ready {
					notReady = append(notReady, w)
				}
			}
			if report != nil {
				report(notReady)
			}
			if len(notReady) == 0 && len(ws) > 0 {
				return nil
			}
			if len(ws) == 0 {
				notReady = []workload{{Kind: "Namespace", Namespace: strings.Join(namespaces, ","), Reason: "no workloads found yet"}}
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return &notReadyError{Waited: time.Since(start), NotReady: append([]workload(nil), notReady...)}
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// WaitSecret polls for key in secret namespace/name for at most timeout; it
// returns the data, or nil when the Secret did not appear in time.
func (c *cluster) WaitSecret(ctx context.Context, namespace, name, key string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		b, err := c.SecretData(ctx, namespace, name, key)
		if err != nil && ctx.Err() == nil {
			return nil, err
		}
		if len(b) > 0 {
			return b, nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, nil
			}
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}
