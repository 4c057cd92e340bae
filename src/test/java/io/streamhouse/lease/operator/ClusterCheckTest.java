package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.net.ServerSocket;
import org.junit.jupiter.api.Test;

/** With no cluster to talk to, the start-up check answers in seconds with one clear sentence. */
class ClusterCheckTest {

    @Test
    void namesTheServerAndWhatToDoWhenNothingAnswers() throws IOException {
        int port;
        try (ServerSocket socket = new ServerSocket(0)) {
            port = socket.getLocalPort();
        }
        try (KubernetesClient client = new KubernetesClientBuilder()
                .withConfig(new ConfigBuilder().withMasterUrl("https://127.0.0.1:" + port).build()).build()) {
            long start = System.nanoTime();

            String problem = new ClusterCheck(client, true).problem();

            assertThat(problem).startsWith("no reachable Kubernetes cluster at https://127.0.0.1:" + port)
                    .contains("Point KUBECONFIG at a cluster");
            assertThat((System.nanoTime() - start) / 1_000_000_000).as("seconds, not a minute of retries").isLessThan(15);
        }
    }
}
