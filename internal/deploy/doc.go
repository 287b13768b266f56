// Package deploy installs a private Sigstore on Kubernetes with the Vigil
// monitor next to it, and acts as a client of it: the steps behind every
// `bootstrap` command ([Up], [Status], [Down], [Sign], [Verify],
// [WriteTrust]). The command parses flags into a [Config] or options struct,
// calls the step and turns its error into an exit code.
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
//     valid for its host for at least [renewBefore] is kept as it is. Only
//     one of ca.crt and ca.key in the directory is an error ([errPartialCA]),
//     and so are TLS Secrets another CA issued ([errForeignCA]) unless
//     Config.RotateCA (--rotate-ca) allows re-issuing them. The same step
//     creates, once, the Secrets the bootstrap owns and never overwrites:
//     Rekor's ECDSA P-256 signing key ([rekorSignerSecret], mounted into
//     rekor-server as its file signer, so the log key survives restarts) and
//     Trillian's MySQL passwords ([trillianMySQLSecret], passed to the chart
//     as values, so upgrades do not change them).
//  3. sigstore chart: install or upgrade the scaffold chart with the Helm SDK
//     (ingress hosts, TLS Secret names, OIDC issuers for Fulcio, TUF and the
//     key-copy job on). The bootstrap owns the namespaces, so uninstalling
//     the chart keeps the TLS Secrets and the TUF root. A release stuck in a
//     pending state is first rolled back to its last deployed revision (or
//     uninstalled when it never deployed).
//  4. rollouts: wait (client-go, polling) until every Deployment and
//     StatefulSet is available and every Job complete, naming the ones that
//     are not and why (pod waiting reasons, failing conditions).
//  5. trust material: read the TUF root (tuf-system/tuf-root, written by the
//     TUF server), Rekor's public key from [rekorSignerSecret] and the other
//     public keys the scaffold gathers into tuf-system;
//     write root.json and the mirror URL (for `cosign initialize`) and a
//     trusted_root.json (for sigstore-go and `cosign verify --trusted-root`).
//  6. hosts: the /etc/hosts lines for the ingress names, printed or written
//     into a marked block of a hosts file.
//  7. monitor: install the monitor chart (manifests/chart, embedded in the
//     binary) configured for the in-cluster Rekor with its public key from
//     [rekorSignerSecret] and the identities to watch.
//
// # Down
//
// down uninstalls both releases and deletes the key copies the scaffold's
// copy-secrets job made in tuf-system ([copiedSecrets]; the job creates them
// with `kubectl create` and would fail on leftovers). It keeps the
// namespaces, TLS Secrets, the TUF root, the Rekor signing key, the MySQL
// passwords, the monitor's state volume and the local CA and trust material.
// down --purge also deletes the namespaces (and so every Secret in them) and,
// locally, only the files the bootstrap wrote, then their directories when
// empty.
//
// # The monitor's configuration
//
// The monitor's configuration file is built as a typed config.Config
// ([monitorConfig]: the in-cluster Rekor v1 log, the identity rules of
// MonitorConfig.Watch, and the trust watch of the in-cluster TUF repository
// and of the bootstrap CA's expiry), written with config.Config.Encode and handed to the
// monitor chart as its config value; the chart adds state_dir and listen.
// The rest of the chart values (image, public keys, extra values) and the
// scaffold chart's values are maps, as Helm takes them.
//
// # Sign, verify, trust
//
// [Sign] builds a one-layer test image, pushes it and signs it keyless
// (Fulcio certificate for an OIDC token from a file or a Kubernetes service
// account, Rekor v1 entry), attaching a Sigstore bundle as cosign v3 does;
// a re-run with the same identity changes nothing. [Verify] checks an
// image's bundles against a trusted_root.json and an identity policy.
// [WriteTrust] fetches a trusted_root.json from a running Fulcio and Rekor.
// None of them changes the cluster.
//
// # Idempotency
//
// Each step compares what is there with what it would make and changes only
// the difference: a Secret is updated only when its data differs, a Helm
// release is upgraded only when the chart content ([chartDigest]) or the
// values differ from the deployed revision, a file is rewritten only when its
// bytes differ. Running up twice leaves the second run with every change
// [unchanged]. With Config.DryRun every step reports what it would do
// ("would create", "would update") and changes nothing.
//
// # Boundaries
//
// Helm's action package and client-go stay behind [cluster] (connect,
// describe, namespaces, Secrets, [cluster.ApplyRelease],
// [cluster.WaitReady]); [Up], [Status] and [Down] read as plain sequences of
// steps. Progress goes to a [progress] (one line per step with its timing, a
// spinner on terminals). The package does not log.
package deploy
