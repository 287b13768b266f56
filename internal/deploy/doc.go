// Package deploy installs a private Sigstore on Kubernetes with the Vigil
// monitor next to it: the steps behind `bootstrap up`, `status` and `down`.
//
// # Steps of up
//
//  1. cluster: connect with a kubeconfig (and context) and say what the
//     cluster is (version, ready nodes); stop when it has no ready node.
//  2. certificates: load or create a private CA in the state directory
//     (crypto/x509, ECDSA P-256), create the component namespaces, and make
//     each exposed component's TLS Secret (fulcio-tls, rekor-tls, tuf-tls,
//     ctlog-tls with --expose-ctlog) hold a serving certificate for
//     <component>.<domain> from that CA. A Secret whose certificate is still
//     valid for its host for at least [RenewBefore] is kept as it is.
//  3. sigstore chart: install or upgrade the scaffold chart with the Helm SDK
//     (ingress hosts, TLS Secret names, OIDC issuers for Fulcio, TUF and the
//     key-copy job on). The bootstrap owns the namespaces, so uninstalling
//     the chart keeps the TLS Secrets and the TUF root.
//  4. rollouts: wait (client-go, polling) until every Deployment and
//     StatefulSet is available and every Job complete, naming the ones that
//     are not and why (pod waiting reasons, failing conditions).
//  5. trust material: read the TUF root (tuf-system/tuf-root, written by the
//     TUF server) and the public keys the scaffold gathers into tuf-system;
//     write root.json and the mirror URL (for `cosign initialize`) and a
//     trusted_root.json (for sigstore-go and `cosign verify --trusted-root`).
//  6. hosts: the /etc/hosts lines for the ingress names, printed or written
//     into a marked block of a hosts file.
//  7. monitor: install the monitor chart (manifests/chart, embedded in the
//     binary) configured for the in-cluster Rekor with its public key from
//     the cluster and the identities to watch.
//
// # Idempotency
//
// Each step compares what is there with what it would make and changes only
// the difference: a Secret is updated only when its data differs, a Helm
// release is upgraded only when the chart content ([ChartDigest]) or the
// values differ from the deployed revision, a file is rewritten only when its
// bytes differ. Running up twice leaves the second run with every change
// [Unchanged]. With Config.DryRun every step reports what it would do
// ("would create", "would update") and changes nothing.
//
// # Boundaries
//
// Helm's action package and client-go stay behind [Cluster] (connect,
// describe, namespaces, Secrets, [Cluster.ApplyRelease],
// [Cluster.WaitReady]); [Up], [Status] and [Down] read as plain sequences of
// steps. Progress goes to a [Progress] (one line per step with its timing, a
// spinner on terminals). The package does not log.
package deploy
