package io.streamhouse.lease.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;
import org.testcontainers.k3s.K3sContainer;
import org.testcontainers.utility.DockerImageName;

/**
 * The CRD contract on a current Kubernetes (K3s), where CEL rules are enforced too. Needs
 * Docker and the K3s image: skipped cleanly where Docker is absent (as on the project's CI).
 */
@Testcontainers(disabledWithoutDocker = true)
class K3sContractIT {

    @Container
    static final K3sContainer K3S = new K3sContainer(DockerImageName.parse("rancher/k3s:v1.31.4-k3s1"));

    static KubernetesClient client;

    @BeforeAll
    static void installCrds() throws IOException {
        client = new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(K3S.getKubeConfigYaml())).build();
        try (Stream<Path> crds = Files.list(LocalApiServer.projectDir().resolve("crds"))) {
            for (Path file : crds.filter(p -> p.toString().endsWith(".yml")).toList()) {
                CustomResourceDefinition crd = Serialization.unmarshal(Files.readString(file), CustomResourceDefinition.class);
                client.resource(crd).serverSideApply();
            }
        }
        await().atMost(Duration.ofSeconds(60)).until(() -> client.getApiResources("streamhouse.io/v1alpha1") != null);
    }

    @AfterAll
    static void close() {
        if (client != null) {
            client.close();
        }
    }

    static GenericKubernetesResource lease(String name, String spec) {
        return Serialization.unmarshal("""
                apiVersion: streamhouse.io/v1alpha1
                kind: PartitionLease
                metadata: {name: %s, namespace: default}
                spec: %s
                """.formatted(name, spec), GenericKubernetesResource.class);
    }

    @Test
    void refusesBadInputWithClearMessages() {
        assertThatThrownBy(() -> client.resource(lease("neg", "{topic: orders, partition: -1}")).create())
                .isInstanceOf(KubernetesClientException.class).hasMessageContaining("spec.partition");
        assertThatThrownBy(() -> client.resource(lease("missing", "{partition: 1}")).create())
                .isInstanceOf(KubernetesClientException.class).hasMessageContaining("spec.topic: Required value");
    }

    @Test
    void topicAndPartitionAreImmutableThroughCel() {
        client.resource(lease("fixed", "{topic: orders, partition: 1}")).create();
        assertThatThrownBy(() -> client.resource(lease("fixed", "{topic: orders, partition: 2}")).update())
                .isInstanceOf(KubernetesClientException.class)
                .hasMessageContaining("partition is immutable");
        assertThat(client.genericKubernetesResources("streamhouse.io/v1alpha1", "PartitionLease")
                .inNamespace("default").withName("fixed").get()).isNotNull();
    }
}
