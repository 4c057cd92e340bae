package io.streamhouse.lease.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The install as a user applies it, `kubectl kustomize deploy/` rendered by the kubectl on PATH,
 * sent to the real API server. The local server is v1.20: everything it serves is applied for
 * real (and must be accepted by its schemas); the one kind it does not serve, policy/v1
 * PodDisruptionBudget (1.21+), is checked instead against policy/v1beta1, whose spec has the same
 * fields, with a server-side dry run. Supported versions are 1.25+ (README).
 */
@QuarkusTest
@TestProfile(RealApiServerIT.Real.class)
class InstallManifestsIT {

    static final Path PROJECT = LocalApiServer.projectDir();

    @Inject
    KubernetesClient client;

    @Test
    void theRenderedInstallIsAcceptedByTheRealApiServer() throws Exception {
        String rendered = kustomize("deploy/");
        List<HasMetadata> items = client.load(new ByteArrayInputStream(rendered.getBytes(StandardCharsets.UTF_8))).items();
        assertThat(items).extracting(HasMetadata::getKind).contains("Namespace", "ClusterRole", "Deployment",
                "PodDisruptionBudget");

        List<String> applied = new ArrayList<>();
        List<String> checked = new ArrayList<>();
        for (HasMetadata item : items) {
            if ("policy/v1".equals(item.getApiVersion()) && "PodDisruptionBudget".equals(item.getKind())) {
                @SuppressWarnings("unchecked")
                Map<String, Object> asMap = client.getKubernetesSerialization().convertValue(item, Map.class);
                asMap.put("apiVersion", "policy/v1beta1");
                GenericKubernetesResource beta = client.getKubernetesSerialization().convertValue(asMap,
                        GenericKubernetesResource.class);
                client.genericKubernetesResources("policy/v1beta1", "PodDisruptionBudget")
                        .inNamespace(item.getMetadata().getNamespace()).resource(beta).dryRun().create();
                checked.add(item.getKind() + "/" + item.getMetadata().getName());
            } else {
                client.resource(item).createOr(existing -> existing.update());
                applied.add(item.getKind() + "/" + item.getMetadata().getName());
            }
        }
        assertThat(checked).containsExactly("PodDisruptionBudget/streamhouse-lease-operator");
        assertThat(applied).hasSize(items.size() - 1);

        Deployment operator = client.apps().deployments().inNamespace("streamhouse")
                .withName("streamhouse-lease-operator").get();
        assertThat(operator.getSpec().getTemplate().getSpec().getContainers()).singleElement()
                .satisfies(c -> assertThat(c.getImage()).isEqualTo("streamhouse/lease-operator:0.1.0"));
    }

    static String kustomize(String dir) throws IOException, InterruptedException {
        Path out = Files.createTempFile("kustomize-", ".yaml");
        Process p = new ProcessBuilder("kubectl", "kustomize", dir).directory(PROJECT.toFile())
                .redirectOutput(out.toFile()).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        assertThat(p.waitFor(2, TimeUnit.MINUTES)).isTrue();
        assertThat(p.exitValue()).as("kubectl kustomize %s", dir).isZero();
        return Files.readString(out);
    }
}
