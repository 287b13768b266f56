package deploy

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/homedir"
)

// managedByLabel marks the objects the bootstrap creates outside Helm
// (namespaces, TLS Secrets) so that `bootstrap down --purge` removes only
// those.
const (
	managedByLabel = "app.kubernetes.io/managed-by"
	managedByValue = "vigil-bootstrap"
)

// cluster is a connection to one Kubernetes cluster: a client-go clientset and
// the REST client getter Helm wants. It is safe for concurrent use.
type cluster struct {
	// Context and Server name the cluster in progress output.
	Context string
	Server  string

	Config *rest.Config
	Client kubernetes.Interface

	kubeconfig, context string // as given to connect, for Helm
}

// restClientGetter returns what Helm's actions need to reach the cluster,
// defaulting objects to namespace.
func (c *cluster) restClientGetter(namespace string) *genericclioptions.ConfigFlags {
	flags := genericclioptions.NewConfigFlags(false)
	if c.kubeconfig != "" {
		flags.KubeConfig = &c.kubeconfig
	}
	if c.context != "" {
		flags.Context = &c.context
	}
	flags.Namespace = &namespace
	return flags
}

// connect loads kubeconfig (empty: the default loading rules, $KUBECONFIG or
// ~/.kube/config, else the in-cluster service account) with context
// kubeContext (empty: the current one). It does not contact the cluster.
//
// When none of these names a cluster it returns a *[NoKubeconfigError]
// rather than client-go's silent default of http://localhost:8080.
func connect(kubeconfig, kubeContext string) (*cluster, error) {
	kubeconfig, err := findKubeconfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	flags := genericclioptions.NewConfigFlags(false)
	if kubeconfig != "" {
		flags.KubeConfig = &kubeconfig
	}
	if kubeContext != "" {
		flags.Context = &kubeContext
	}
	cfg, err := flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	// client-go's default of 5 requests a second makes a bootstrap of a few
	// dozen objects crawl.
	cfg.QPS, cfg.Burst = 50, 100
	raw, err := flags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	name := kubeContext
	if name == "" {
		name = raw.CurrentContext
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating Kubernetes client: %w", err)
	}
	return &cluster{Context: name, Server: cfg.Host, Config: cfg, Client: cs, kubeconfig: kubeconfig, context: kubeContext}, nil
}

// NoKubeconfigError says that no kubeconfig naming a cluster was found, and
// where connect looked.
type NoKubeconfigError struct {
	// Looked lists each place looked at and what was there, e.g.
	// "/home/u/.kube/config (does not exist)".
	Looked []string
}

func (e *NoKubeconfigError) Error() string {
	return "no kubeconfig found: looked at " + strings.Join(e.Looked, ", ") +
		"; give --kubeconfig FILE or set KUBECONFIG (without one, client-go would try http://localhost:8080)"
}

// serviceAccountTokenFile is where a pod's service-account token is mounted;
// client-go's in-cluster configuration reads it. A variable for tests.
var serviceAccountTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// findKubeconfig returns a *NoKubeconfigError when client-go would find no
// cluster to talk to for explicit (the --kubeconfig value, may be empty) and
// fall back to http://localhost:8080 without a word. It follows client-go's
// loading rules: explicit alone when given; else the files in $KUBECONFIG
// (missing ones are skipped), or ~/.kube/config when $KUBECONFIG is empty;
// else the in-cluster service account. A file that exists but does not parse
// is left to client-go to report.
//
// It returns the file to load explicitly: explicit, or ~/.kube/config when
// that is the one, else "" (client-go's rules for $KUBECONFIG and in-cluster).
// Home is read now, where client-go reads it once at start-up, so that what
// is checked and what is loaded agree even when $HOME changed (in tests).
func findKubeconfig(explicit string) (string, error) {
	var looked []string
	// found reports whether path holds a kubeconfig with a cluster,
	// recording what it saw under label otherwise.
	found := func(label, path string) bool {
		if _, err := os.Stat(path); err != nil {
			looked = append(looked, label+" (does not exist)")
			return false
		}
		cfg, err := clientcmd.LoadFromFile(path)
		if err != nil || len(cfg.Clusters) > 0 {
			return true
		}
		looked = append(looked, label+" (no clusters in it)")
		return false
	}
	if explicit != "" {
		if found("--kubeconfig "+explicit, explicit) {
			return explicit, nil
		}
		return "", &NoKubeconfigError{Looked: looked}
	}
	looked = append(looked, "--kubeconfig (not given)")
	if env := os.Getenv(clientcmd.RecommendedConfigPathEnvVar); env != "" {
		for _, p := range filepath.SplitList(env) {
			if p != "" && found("$KUBECONFIG entry "+p, p) {
				return "", nil
			}
		}
	} else {
		looked = append(looked, "$KUBECONFIG (not set)")
		home := filepath.Join(homedir.HomeDir(), clientcmd.RecommendedHomeDir, clientcmd.RecommendedFileName)
		if found(home, home) {
			return home, nil
		}
	}
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	switch _, err := os.Stat(serviceAccountTokenFile); {
	case host == "" || port == "":
		looked = append(looked, "the in-cluster service account (KUBERNETES_SERVICE_HOST/PORT not set)")
	case err != nil:
		looked = append(looked, "the in-cluster service account ("+serviceAccountTokenFile+" does not exist)")
	default:
		return "", nil
	}
	// The legacy variable client-go takes as the default server.
	if os.Getenv("KUBERNETES_MASTER") != "" {
		return "", nil
	}
	return "", &NoKubeconfigError{Looked: looked}
}

// clusterInfo describes a reachable cluster.
type clusterInfo struct {
	Version    string // e.g. v1.37.2
	Nodes      int
	ReadyNodes int
}

func (i clusterInfo) String() string {
	return fmt.Sprintf("Kubernetes %s, %d/%d nodes ready", i.Version, i.ReadyNodes, i.Nodes)
}

// Describe contacts the cluster: its version and node readiness.
func (c *cluster) Describe(ctx context.Context) (clusterInfo, error) {
	v, err := c.Client.Discovery().ServerVersion()
	if err != nil {
		return clusterInfo{}, fmt.Errorf("reaching cluster %s at %s: %w", c.Context, c.Server, err)
	}
	info := clusterInfo{Version: v.GitVersion}
	nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return info, fmt.Errorf("listing nodes: %w", err)
	}
	info.Nodes = len(nodes.Items)
	for _, n := range nodes.Items {
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				info.ReadyNodes++
			}
		}
	}
	return info, nil
}

// outcome says what an idempotent apply did.
type outcome string

// Outcomes of an apply.
const (
	unchanged outcome = "unchanged"
	created   outcome = "created"
	updated   outcome = "updated"
	deleted   outcome = "deleted"
	// wouldCreate etc. are the dry-run forms.
	wouldCreate outcome = "would create"
	wouldUpdate outcome = "would update"
	wouldDelete outcome = "would delete"
)

func (c outcome) dry(dryRun bool) outcome {
	if !dryRun {
		return c
	}
	switch c {
	case created:
		return wouldCreate
	case updated:
		return wouldUpdate
	case deleted:
		return wouldDelete
	}
	return c
}

// EnsureNamespace creates namespace name, labelled as the bootstrap's, unless
// it exists (whoever made it).
func (c *cluster) EnsureNamespace(ctx context.Context, name string, dryRun bool) (outcome, error) {
	_, err := c.Client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		return unchanged, nil
	}
	if !apierrors.IsNotFound(err) {
		return "", fmt.Errorf("reading namespace %s: %w", name, err)
	}
	if dryRun {
		return wouldCreate, nil
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{managedByLabel: managedByValue}}}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return created, nil
}

// ApplySecret makes namespace/name hold exactly data with type typ, labelled
// as the bootstrap's: created when absent, updated when its data or type
// differ, left alone otherwise.
func (c *cluster) ApplySecret(ctx context.Context, namespace, name string, typ corev1.SecretType, data map[string][]byte, dryRun bool) (outcome, error) {
	api := c.Client.CoreV1().Secrets(namespace)
	cur, err := api.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if dryRun {
			return wouldCreate, nil
		}
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{managedByLabel: managedByValue}},
			Type:       typ,
			Data:       data,
		}
		if _, err := api.Create(ctx, s, metav1.CreateOptions{}); err != nil {
			return "", fmt.Errorf("creating secret %s/%s: %w", namespace, name, err)
		}
		return created, nil
	case err != nil:
		return "", fmt.Errorf("reading secret %s/%s: %w", namespace, name, err)
	}
	if cur.Type == typ && maps.EqualFunc(cur.Data, data, func(a, b []byte) bool { return string(a) == string(b) }) {
		return unchanged, nil
	}
	if dryRun {
		return wouldUpdate, nil
	}
	if cur.Type != typ {
		// The type of a Secret is immutable: replace it.
		if err := api.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			return "", fmt.Errorf("replacing secret %s/%s: %w", namespace, name, err)
		}
		cur = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
		cur.Type, cur.Data = typ, data
		cur.Labels = map[string]string{managedByLabel: managedByValue}
		if _, err := api.Create(ctx, cur, metav1.CreateOptions{}); err != nil {
			return "", fmt.Errorf("creating secret %s/%s: %w", namespace, name, err)
		}
		return updated, nil
	}
	cur.Data = data
	if cur.Labels == nil {
		cur.Labels = map[string]string{}
	}
	cur.Labels[managedByLabel] = managedByValue
	if _, err := api.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		return "", fmt.Errorf("updating secret %s/%s: %w", namespace, name, err)
	}
	return updated, nil
}

// SecretData returns key of secret namespace/name, or nil and no error when
// the Secret or the key does not exist.
func (c *cluster) SecretData(ctx context.Context, namespace, name, key string) ([]byte, error) {
	s, err := c.Client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading secret %s/%s: %w", namespace, name, err)
	}
	return s.Data[key], nil
}

// DeleteManaged deletes the bootstrap-labelled namespaces among names (and so
// everything in them); namespaces someone else made are left alone.
func (c *cluster) DeleteManaged(ctx context.Context, names []string, dryRun bool) ([]string, error) {
	var gone []string
	for _, n := range names {
		ns, err := c.Client.CoreV1().Namespaces().Get(ctx, n, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return gone, fmt.Errorf("reading namespace %s: %w", n, err)
		}
		if ns.Labels[managedByLabel] != managedByValue || ns.DeletionTimestamp != nil {
			continue
		}
		if !dryRun {
			if err := c.Client.CoreV1().Namespaces().Delete(ctx, n, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return gone, fmt.Errorf("deleting namespace %s: %w", n, err)
			}
		}
		gone = append(gone, n)
	}
	return gone, nil
}

// ServiceAccountToken requests a short-lived (10 minute) token for service
// account namespace/name with audience, through the TokenRequest API: an
// OIDC ID token from the cluster's issuer that Fulcio accepts when it trusts
// that issuer (type kubernetes).
func (c *cluster) ServiceAccountToken(ctx context.Context, namespace, name, audience string) (string, error) {
	exp := int64(600)
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences: []string{audience}, ExpirationSeconds: &exp,
	}}
	out, err := c.Client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, tr, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting a token for service account %s/%s: %w", namespace, name, err)
	}
	return out.Status.Token, nil
}
