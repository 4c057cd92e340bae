package io.streamhouse.lease.deploy;

import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * deploy/ parses, is applied in the order its numbers say, holds the install only (examples
 * apart), names the image once, and its RBAC is least privilege.
 * (That the operator's rules cover every call it makes is {@link RbacCoverageTest}.)
 */
class DeployManifestsTest {

    static final Path DEPLOY = Path.of("deploy");
    static List<HasMetadata> load(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file); KubernetesClient parser = new KubernetesClientBuilder().build()) {
            return parser.load(in).items();
        }
    }

    static List<HasMetadata> all() throws IOException {
        List<HasMetadata> out = new ArrayList<>();
        for (Path file : numbered()) {
            out.addAll(load(file));
        }
        return out;
    }

    static List<Path> numbered() throws IOException {
        try (Stream<Path> files = Files.list(DEPLOY)) {
            return files.filter(f -> f.getFileName().toString().matches("\\d\\d-.*\\.yaml")).sorted().toList();
        }
    }

    static List<HasMetadata> examples() throws IOException {
        List<HasMetadata> out = new ArrayList<>();
        try (Stream<Path> files = Files.list(DEPLOY.resolve("examples"))) {
            for (Path file : files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList()) {
                out.addAll(load(file));
            }
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    static List<String> kustomizationResources(Path dir) throws IOException {
        Map<String, Object> k = new KubernetesSerialization().unmarshal(Files.readString(dir.resolve("kustomization.yaml")),
                Map.class);
        return (List<String>) k.get("resources");
    }

    @Test
    void kustomizationAppliesEveryNumberedManifestInOrderAndNothingElse() throws IOException {
        List<String> expected = new ArrayList<>();
        numbered().forEach(f -> expected.add(f.getFileName().toString()));
        assertThat(kustomizationResources(DEPLOY)).containsExactlyElementsOf(expected);
    }

    @Test
    void crdsHoldsOnlyCrdsSoThatTheFolderCanBeApplied() throws IOException {
        // `kubectl apply -f crds/` (and GitOps tools applying a folder) fail on anything that is
        // not a Kubernetes object, such as a kustomization.yaml.
        try (Stream<Path> files = Files.list(Path.of("crds"))) {
            List<Path> all = files.sorted().toList();
            assertThat(all).extracting(f -> f.getFileName().toString())
                    .containsExactly("partitionleases.streamhouse.io-v1.yml", "streamagents.streamhouse.io-v1.yml",
                            "streamtopics.streamhouse.io-v1.yml");
            for (Path crd : all) {
                assertThat(load(crd)).singleElement()
                        .satisfies(r -> assertThat(r.getKind()).isEqualTo("CustomResourceDefinition"));
            }
        }
    }

    /**
     * Servers from 1.25 enforce the CRD's CEL rules: a StreamTopic may never shrink nor change its
     * topic (its rows and epochs are kept for good). The local 1.20 server ignores them, so the
     * rules are checked here by the schema, and the reconciler's own refusal on the real server.
     */
    @Test
    void theStreamTopicSchemaRefusesAShrinkAndARenameWithCelRules() throws IOException {
        var crd = (io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition)
                load(Path.of("crds/streamtopics.streamhouse.io-v1.yml")).get(0);
        var spec = crd.getSpec().getVersions().get(0).getSchema().getOpenAPIV3Schema().getProperties().get("spec");
        assertThat(spec.getProperties().get("partitions").getXKubernetesValidations())
                .singleElement().satisfies(v -> {
                    assertThat(v.getRule()).isEqualTo("self >= oldSelf");
                    assertThat(v.getMessage()).contains("may only grow");
                });
        assertThat(spec.getProperties().get("partitions").getMinimum()).isEqualTo(1.0);
        assertThat(spec.getProperties().get("partitions").getMaximum()).isEqualTo(100000.0);
        assertThat(spec.getProperties().get("topic").getXKubernetesValidations())
                .singleElement().satisfies(v -> assertThat(v.getRule()).isEqualTo("self == oldSelf"));
        assertThat(spec.getXKubernetesValidations()).singleElement()
                .satisfies(v -> assertThat(v.getRule()).contains("p.partition < self.partitions"));
        assertThat(crd.getSpec().getNames().getShortNames()).containsExactly("st");
        assertThat(crd.getSpec().getNames().getCategories()).containsExactly("streamhouse");
    }

    @Test
    void theInstallHoldsNoExamplesAndNoSecretValues() throws IOException {
        assertThat(all()).extracting(HasMetadata::getKind)
                .containsOnly("Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
                        "Deployment", "PodDisruptionBudget");
        assertThat(all()).filteredOn(r -> r instanceof Deployment).extracting(r -> r.getMetadata().getName())
                .containsExactly("streamhouse-lease-operator");
    }

    @Test
    @SuppressWarnings("unchecked")
    void theOperatorImageIsNamedInOnePlaceWithTheProjectsVersion() throws IOException {
        Map<String, Object> k = new KubernetesSerialization().unmarshal(Files.readString(DEPLOY.resolve("kustomization.yaml")),
                Map.class);
        List<Map<String, String>> images = (List<Map<String, String>>) k.get("images");
        assertThat(images).singleElement().satisfies(image -> {
            assertThat(image.get("name")).isEqualTo("streamhouse-lease-operator");
            assertThat(image.get("newTag")).isEqualTo(projectVersion().replace("-SNAPSHOT", ""));
        });
        String image = images.get(0).get("newName") + ":" + images.get(0).get("newTag");
        Deployment operator = all().stream().filter(r -> r instanceof Deployment).map(Deployment.class::cast)
                .findFirst().orElseThrow();
        // The manifest carries only the placeholder kustomize replaces; nothing else names a tag.
        assertThat(operator.getSpec().getTemplate().getSpec().getContainers()).singleElement()
                .satisfies(c -> assertThat(c.getImage()).isEqualTo("streamhouse-lease-operator"));
        // The README's build command tags exactly the image the install runs.
        assertThat(Files.readString(Path.of("README.md"))).contains("-t " + image + " .");
    }

    static String projectVersion() throws IOException {
        String pom = Files.readString(Path.of("pom.xml"));
        // the project's own <version>, the first one after its <artifactId>
        int artifact = pom.indexOf("<artifactId>streamhouse-lease-operator</artifactId>");
        int from = pom.indexOf("<version>", artifact) + "<version>".length();
        return pom.substring(from, pom.indexOf("</version>", from)).trim();
    }

    @Test
    void examplesSayWhichPartsAreTheUsersOwn() throws IOException {
        String secret = Files.readString(DEPLOY.resolve("examples/database-secret.yaml"));
        assertThat(secret).startsWith("# EXAMPLE").doesNotContain("change-me");
        String agents = Files.readString(DEPLOY.resolve("examples/agent-deployment.yaml"));
        assertThat(agents).startsWith("# EXAMPLE").contains("YOURS: your agent's image");
    }

    @Test
    void exampleAgentsUseALoginOfTheirOwnWhichTheirAnnotationNames() throws IOException {
        Deployment agents = examples().stream().filter(r -> r instanceof Deployment).map(Deployment.class::cast)
                .filter(d -> "streamhouse-agent".equals(d.getMetadata().getName())).findFirst().orElseThrow();
        Map<String, io.fabric8.kubernetes.api.model.Secret> secrets = new java.util.HashMap<>();
        examples().stream().filter(r -> r instanceof io.fabric8.kubernetes.api.model.Secret)
                .map(io.fabric8.kubernetes.api.model.Secret.class::cast).forEach(x -> secrets.put(x.getMetadata().getName(), x));
        String login = secrets.get("streamhouse-agent-db").getStringData().get("user");
        assertThat(agents.getSpec().getTemplate().getMetadata().getAnnotations())
                .containsEntry(io.streamhouse.lease.api.v1alpha1.StreamAgent.DATABASE_USER_ANNOTATION, login);
        assertThat(agents.getSpec().getTemplate().getSpec().getContainers().get(0).getEnv())
                .filteredOn(e -> e.getName().startsWith("STREAMHOUSE_DB_")).hasSize(3)
                .allSatisfy(e -> assertThat(e.getValueFrom().getSecretKeyRef().getName()).isEqualTo("streamhouse-agent-db"));
        Map<String, String> operator = secrets.get("streamhouse-db").getStringData();
        assertThat(operator.get("user")).isNotEqualTo(login).isNotEqualTo(operator.get("migration-user"));
        assertThat(operator).containsKeys("grant-operator", "grant-agents");
    }

    @Test
    void everyManifestParsesIntoKnownKinds() throws IOException {
        List<HasMetadata> resources = all();
        assertThat(resources).extracting(HasMetadata::getKind).contains("Namespace", "ServiceAccount", "ClusterRole",
                "ClusterRoleBinding", "Role", "RoleBinding", "Deployment", "PodDisruptionBudget");
        assertThat(examples()).extracting(HasMetadata::getKind).contains("Secret", "Deployment", "StreamAgent",
                "PartitionLease");
        assertThat(examples()).allSatisfy(r -> assertThat(r.getMetadata().getName()).isNotBlank());
        assertThat(resources).allSatisfy(r -> assertThat(r.getMetadata().getName()).isNotBlank());
    }

    @Test
    void noRuleUsesAWildcard() throws IOException {
        List<PolicyRule> rules = new ArrayList<>();
        for (HasMetadata r : all()) {
            if (r instanceof ClusterRole cr) {
                rules.addAll(cr.getRules());
            } else if (r instanceof Role role) {
                rules.addAll(role.getRules());
            }
        }
        assertThat(rules).isNotEmpty().allSatisfy(rule -> {
            assertThat(rule.getApiGroups()).doesNotContain("*");
            assertThat(rule.getResources()).doesNotContain("*").allSatisfy(res -> assertThat(res).doesNotEndWith("/*"));
            assertThat(rule.getVerbs()).doesNotContain("*");
        });
    }

    @Test
    void agentsMayOnlyGetStreamAgentsByNameInTheNamespacesTheyAreBoundIn() throws IOException {
        ClusterRole agent = all().stream().filter(r -> r instanceof ClusterRole && "streamhouse-agent".equals(r.getMetadata().getName()))
                .map(ClusterRole.class::cast).findFirst().orElseThrow();
        // Their leases come from the database: nothing on PartitionLeases, nothing but get on StreamAgents.
        assertThat(agent.getRules()).singleElement().satisfies(rule -> {
            assertThat(rule.getResources()).containsExactly("streamagents");
            assertThat(rule.getVerbs()).containsExactly("get");
        });
        // Granted per namespace (a RoleBinding), never cluster-wide.
        assertThat(all()).filteredOn(r -> r instanceof ClusterRoleBinding cb && "streamhouse-agent".equals(cb.getRoleRef().getName()))
                .isEmpty();
        assertThat(all()).filteredOn(r -> r instanceof RoleBinding rb && "streamhouse-agent".equals(rb.getRoleRef().getName()))
                .singleElement().satisfies(r -> assertThat(((RoleBinding) r).getRoleRef().getKind()).isEqualTo("ClusterRole"));
    }

    @Test
    void peopleGetStreamHouseResourcesThroughTheViewEditAndAdminRolesButNeverTheirStatus() throws IOException {
        Map<String, ClusterRole> roles = new java.util.HashMap<>();
        all().stream().filter(r -> r instanceof ClusterRole).map(ClusterRole.class::cast)
                .forEach(r -> roles.put(r.getMetadata().getName(), r));
        String aggregate = "rbac.authorization.k8s.io/aggregate-to-";
        assertThat(roles.get("streamhouse-view").getMetadata().getLabels())
                .containsEntry(aggregate + "view", "true").containsEntry(aggregate + "edit", "true")
                .containsEntry(aggregate + "admin", "true");
        assertThat(roles.get("streamhouse-view").getRules()).allSatisfy(rule ->
                assertThat(rule.getVerbs()).containsExactlyInAnyOrder("get", "list", "watch"));
        assertThat(roles.get("streamhouse-edit").getMetadata().getLabels())
                .containsEntry(aggregate + "edit", "true").containsEntry(aggregate + "admin", "true")
                .doesNotContainKey(aggregate + "view");
        assertThat(roles.get("streamhouse-edit").getRules()).allSatisfy(rule -> {
            assertThat(rule.getResources()).containsExactlyInAnyOrder("partitionleases", "streamtopics", "streamagents");
            assertThat(rule.getResources()).noneMatch(x -> x.contains("/"));
        });
    }

    @Test
    void anUnhealthyOperatorPodMayAlwaysBeEvictedAsTheKubernetesSchemaSpellsIt() throws IOException {
        // Parsed by Fabric8's model, generated from the Kubernetes OpenAPI schema (the local 1.20
        // server does not know the field): a misspelt field would land in additionalProperties.
        io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget pdb = all().stream()
                .filter(r -> r instanceof io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget)
                .map(io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget.class::cast).findFirst().orElseThrow();
        assertThat(pdb.getSpec().getUnhealthyPodEvictionPolicy()).isEqualTo("AlwaysAllow");
        assertThat(pdb.getSpec().getAdditionalProperties()).isEmpty();
    }

    @Test
    void operatorRunsTwoReplicasWithProbesResourcesAndADisruptionBudget() throws IOException {
        List<HasMetadata> resources = all();
        Deployment operator = resources.stream().filter(r -> r instanceof Deployment
                && "streamhouse-lease-operator".equals(r.getMetadata().getName())).map(Deployment.class::cast)
                .findFirst().orElseThrow();
        assertThat(operator.getSpec().getReplicas()).isEqualTo(2);
        var container = operator.getSpec().getTemplate().getSpec().getContainers().get(0);
        assertThat(container.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/q/health/ready");
        assertThat(container.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/q/health/live");
        assertThat(container.getResources().getRequests()).containsKeys("cpu", "memory");
        assertThat(container.getResources().getLimits()).containsKey("memory");
        assertThat(container.getEnv()).filteredOn(e -> e.getName().startsWith("STREAMHOUSE_DB_"))
                .hasSize(7).allSatisfy(e -> assertThat(e.getValueFrom().getSecretKeyRef().getName()).isEqualTo("streamhouse-db"));
        // The least-privilege keys are optional: a single-user Secret (url, user, password) still starts it.
        assertThat(container.getEnv()).filteredOn(e -> e.getName().matches("STREAMHOUSE_DB_(MIGRATION|GRANT)_.*"))
                .hasSize(4).allSatisfy(e -> assertThat(e.getValueFrom().getSecretKeyRef().getOptional()).isTrue());
        assertThat(operator.getSpec().getTemplate().getSpec().getServiceAccountName()).isEqualTo("streamhouse-lease-operator");
        assertThat(resources).filteredOn(r -> r instanceof PodDisruptionBudget).singleElement()
                .satisfies(r -> assertThat(((PodDisruptionBudget) r).getSpec().getMinAvailable().getIntVal()).isEqualTo(1));
    }

    @Test
    void exampleAgentsAreLabelledKeepTheirOwnSessionAndDrainOnPreStop() throws IOException {
        Deployment agents = examples().stream().filter(r -> r instanceof Deployment
                && "streamhouse-agent".equals(r.getMetadata().getName())).map(Deployment.class::cast)
                .findFirst().orElseThrow();
        var template = agents.getSpec().getTemplate();
        assertThat(template.getMetadata().getLabels()).containsEntry(StreamAgent.AGENT_LABEL, "true");
        assertThat(template.getMetadata().getAnnotations()).containsEntry(StreamAgent.SESSION_KEEPER_ANNOTATION, "agent");
        var container = template.getSpec().getContainers().get(0);
        assertThat(container.getLifecycle().getPreStop()).isNotNull();
        assertThat(container.getEnv()).extracting(e -> e.getName()).contains("POD_NAME", "POD_NAMESPACE");
        assertThat(template.getSpec().getServiceAccountName()).isEqualTo("streamhouse-agent");
    }
}
