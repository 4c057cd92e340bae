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
 * fields, with a server-side dry run. Supported versions are 1.25+ (README). The release
 * manifest (target/release, rendered by `mvn package`) is checked and applied the same way.
 */
@QuarkusTest
@TestProfile(RealApiServerIT.Real.class)
class InstallManifestsIT {

    static final Path PROJECT = LocalApiServer.projectDir();

    @Inject
    KubernetesClient client;

    @Test
    void theRenderedInstallIsAcceptedByTheRealApiServer() throws Exception {
        List<HasMetadata> items = parse(kustomize("deploy/"));
        assertThat(items).extracting(HasMetadata::getKind).contains("Namespace", "ClusterRole", "Deployment",
                "PodDisruptionBudget");
        apply(items);

        Deployment operator = client.apps().deployments().inNamespace("streamhouse")
                .withName("streamhouse-lease-operator").get();
        assertThat(operator.getSpec().getTemplate().getSpec().getContainers()).singleElement()
                .satisfies(c -> assertThat(c.getImage()).isEqualTo("streamhouse/lease-operator:0.1.0"));
    }

    /**
     * The release manifest the build renders (hack/render-release.sh): the CRDs first, then the
     * same install, with the image tagged with the project's version; nothing from the examples.
     */
    @Test
    void theReleaseManifestIsTheCrdsThenTheInstallOfThisVersionAndIsAccepted() throws Exception {
        String version = projectVersion();
        Path release = PROJECT.resolve("target/release/streamhouse-lease-operator-" + version + ".yaml");
        assertThat(release).as("rendered by mvn package (kubectl on PATH)").exists();
        List<HasMetadata> items = parse(Files.readString(release));
        assertThat(items.subList(0, 3)).extracting(HasMetadata::getKind).containsOnly("CustomResourceDefinition");
        assertThat(items.subList(3, items.size())).extracting(r -> r.getKind() + "/" + r.getMetadata().getName())
                .containsExactlyElementsOf(parse(kustomize("deploy/")).stream()
                        .map(r -> r.getKind() + "/" + r.getMetadata().getName()).toList());
        assertThat(items).extracting(HasMetadata::getKind)
                .doesNotContain("Secret", "StreamAgent", "PartitionLease", "StreamTopic");
        Deployment operator = items.stream().filter(r -> r instanceof Deployment).map(Deployment.class::cast)
                .findFirst().orElseThrow();
        assertThat(operator.getSpec().getTemplate().getSpec().getContainers()).singleElement()
                .satisfies(c -> assertThat(c.getImage()).isEqualTo("streamhouse/lease-operator:" + version));

        for (HasMetadata crd : items.subList(0, 3)) {
            // Replaced, not server-side applied: the 1.20 server's apply refuses the CEL rules
            // (x-kubernetes-validations, 1.25+) as undeclared fields, where a replace drops them.
            client.resource(crd).createOr(existing -> existing.update());
        }
        apply(items.subList(3, items.size()));
    }

    List<HasMetadata> parse(String yaml) {
        return client.load(new ByteArrayInputStream(yaml.getBytes(StandardCharsets.UTF_8))).items();
    }

    /** Applies the install for real, but the policy/v1 PodDisruptionBudget: dry-run as v1beta1 (see above). */
    void apply(List<HasMetadata> items) {
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
    }

    static String projectVersion() throws IOException {
        String pom = Files.readString(PROJECT.resolve("pom.xml"));
        int artifact = pom.indexOf("<artifactId>streamhouse-lease-operator</artifactId>");
        int from = pom.indexOf("<version>", artifact) + "<version>".length();
        return pom.substring(from, pom.indexOf("</version>", from)).trim();
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
