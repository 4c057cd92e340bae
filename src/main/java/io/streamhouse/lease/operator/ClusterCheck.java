package io.streamhouse.lease.operator;

import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.quarkus.runtime.StartupEvent;
import io.streamhouse.lease.api.v1alpha1.PartitionLease;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * Before anything else starts: is there a cluster, and does it serve our API group? Without
 * this the operator retries for ~25 s and prints hundreds of lines of stack traces; with it,
 * one line says what is wrong and the process exits with status 1.
 */
@ApplicationScoped
public class ClusterCheck {

    private static final Logger LOG = Logger.getLogger(ClusterCheck.class);
    static final String API = PartitionLease.GROUP + "/" + PartitionLease.VERSION;

    private final KubernetesClient client;
    private final boolean enabled;

    public ClusterCheck(KubernetesClient client,
                        @ConfigProperty(name = "streamhouse.cluster-check.enabled", defaultValue = "true") boolean enabled) {
        this.client = client;
        this.enabled = enabled;
    }

    void onStart(@Observes @Priority(1) StartupEvent event) {
        if (!enabled) {
            return;
        }
        String problem = problem();
        if (problem != null) {
            LOG.error(problem);
            System.out.flush();
            System.err.flush();
            // halt, not exit: exit's shutdown hook waits for this very start-up to finish and
            // hangs. Nothing needs stopping yet: this runs before the store and the operator.
            Runtime.getRuntime().halt(1);
        }
    }

    /** Null when the cluster answers and serves streamhouse.io/v1alpha1; otherwise what to fix. */
    String problem() {
        String server = client.getConfiguration().getMasterUrl();
        // A client of its own with no retries and short timeouts: the answer must come in seconds.
        try (KubernetesClient probe = new KubernetesClientBuilder().withConfig(new ConfigBuilder(client.getConfiguration())
                .withRequestRetryBackoffLimit(0).withConnectionTimeout(5_000).withRequestTimeout(5_000).build()).build()) {
            try {
                probe.getKubernetesVersion();
            } catch (RuntimeException e) {
                return "no reachable Kubernetes cluster at " + server + " (" + rootMessage(e) + "). Point KUBECONFIG"
                        + " at a cluster, or run in-cluster; for a local one see hack/kube-apiserver/README.md.";
            }
            try {
                if (probe.getApiResources(API) == null) {
                    return "the cluster at " + server + " does not serve " + API
                            + ": install the CRDs first (kubectl apply -f crds/).";
                }
            } catch (RuntimeException e) {
                return "the cluster at " + server + " does not serve " + API + " (" + rootMessage(e)
                        + "): install the CRDs first (kubectl apply -f crds/).";
            }
        }
        return null;
    }

    private static String rootMessage(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root.getClass().getSimpleName() + ": " + root.getMessage();
    }
}
