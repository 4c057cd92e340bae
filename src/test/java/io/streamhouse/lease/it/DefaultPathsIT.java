package io.streamhouse.lease.it;

import java.sql.Statement;
import java.sql.Connection;
import io.streamhouse.lease.store.DatabaseGrants;
import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.ReplicaSet;
import io.fabric8.kubernetes.api.model.apps.ReplicaSetBuilder;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import io.streamhouse.lease.agent.AgentIdentity;
import io.streamhouse.lease.agent.LeaseClient;
import io.streamhouse.lease.agent.LeaseListener;
import io.streamhouse.lease.api.v1alpha1.PartitionLease;
import io.streamhouse.lease.api.v1alpha1.SessionKeeper;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.api.v1alpha1.StreamAgentPhase;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.operator.Fixtures;
import io.streamhouse.lease.store.Database;
import jakarta.inject.Inject;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;
import javax.sql.DataSource;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The paths a new user walks first, on the real API server: pods with only the agent label, or
 * only an agent-id annotation; the examples in deploy/examples as shipped; and pods made from the
 * example agent Deployment's template as its ReplicaSet would make them, running the agent
 * library with the agent ServiceAccount's own token. Fixtures that set every optional field are
 * elsewhere; here nothing is set that a user would not set.
 */
@QuarkusTest
@TestProfile(RealApiServerIT.Real.class)
class DefaultPathsIT {

    static final Path PROJECT = LocalApiServer.projectDir();

    @Inject
    KubernetesClient client;

    @Inject
    DataSource operatorStore;

    String ns;

    @BeforeEach
    void namespace() {
        ns = RealApiServerIT.freshNamespace(client, "dp-");
    }

    static org.awaitility.core.ConditionFactory eventually() {
        return RealApiServerIT.eventually();
    }

    @Test
    void aPodWithOnlyTheAgentLabelGetsAStreamAgentNamedAfterItAndHoldsALease() {
        Fixtures.node(client, "node-" + ns, "zone-" + ns);
        Pod pod = readyPod(new PodBuilder().withNewMetadata().withName("plain-" + ns).withNamespace(ns)
                .withLabels(Map.of(StreamAgent.AGENT_LABEL, "true")).endMetadata()
                .withNewSpec().withNodeName("node-" + ns)
                .addNewContainer().withName("agent").withImage("example/agent:1").endContainer().endSpec().build());
        String id = pod.getMetadata().getName();

        StreamAgent agent = readyStreamAgent(id);
        assertThat(agent.getSpec().getAgentId()).isEqualTo(id);
        assertThat(agent.getSpec().getGroup()).isEqualTo("default");
        assertThat(agent.getSpec().getZone()).isEqualTo("zone-" + ns);
        assertThat(agent.getSpec().getSessionKeeper()).isEqualTo(SessionKeeper.Operator);
        // What the pod does not give is left out of the resource, not written as "" or null.
        assertThat(storedSpec(id)).doesNotContainKey("address");

        heldBy(pinnedLease("plain", id), id);
    }

    @Test
    void aPodWithOnlyTheAgentIdAnnotationOnANodeWithoutAZoneGetsThatId() {
        client.nodes().resource(new io.fabric8.kubernetes.api.model.NodeBuilder().withNewMetadata()
                .withName("nozone-" + ns).endMetadata().build()).create();
        String id = "id-" + ns;
        readyPod(new PodBuilder().withNewMetadata().withName("annotated").withNamespace(ns)
                .withLabels(Map.of(StreamAgent.AGENT_LABEL, "true"))
                .withAnnotations(Map.of(StreamAgent.AGENT_ID_ANNOTATION, id)).endMetadata()
                .withNewSpec().withNodeName("nozone-" + ns)
                .addNewContainer().withName("agent").withImage("example/agent:1").endContainer().endSpec().build());

        StreamAgent agent = readyStreamAgent("annotated");
        assertThat(agent.getSpec().getAgentId()).isEqualTo(id);
        assertThat(storedSpec("annotated")).doesNotContainKeys("address", "zone");

        heldBy(pinnedLease("annotated", id), id);
    }

    @Test
    void theExampleStreamAgentsLeasesAndTopicAsShipped() throws IOException {
        // `kubectl apply -f` puts objects without a namespace into the current one: this test's.
        List<HasMetadata> examples = new ArrayList<>(load("deploy/examples/agents.yaml"));
        examples.addAll(load("deploy/examples/leases.yaml"));
        examples.addAll(load("deploy/examples/topic.yaml"));
        for (HasMetadata r : examples) {
            assertThat(r.getMetadata().getNamespace()).as("examples name no namespace").isNull();
            client.resource(r).inNamespace(ns).create();
        }

        for (String agent : List.of("agent-1", "agent-2")) {
            readyStreamAgent(agent);
        }
        eventually().untilAsserted(() -> {
            for (String name : List.of("orders-0", "orders-1", "orders-2")) {
                PartitionLease lease = client.resources(PartitionLease.class).inNamespace(ns).withName(name).get();
                assertThat(lease.getStatus()).as(name).isNotNull();
                assertThat(lease.getStatus().condition("Held").getStatus()).as(name + " Held").isEqualTo("True");
                assertThat(lease.getStatus().getEpoch()).isPositive();
            }
        });
        // orders-2 names its agent; the others go to either (assignment is per namespace and group).
        // The pin holds while its agent is live: if agent-1 was Ready first, orders-2 went there
        // and moves to agent-2 once it is Ready, so this waits rather than samples.
        eventually().untilAsserted(() -> assertThat(client.resources(PartitionLease.class).inNamespace(ns)
                .withName("orders-2").get().getStatus().getHolder()).isEqualTo("agent-2"));
        assertThat(client.resources(PartitionLease.class).inNamespace(ns).list().getItems())
                .allSatisfy(l -> assertThat(l.getStatus().getHolder()).isIn("agent-1", "agent-2"));

        // The example StreamTopic: its 12 partitions held, six by each agent (with the three
        // leases of "orders", the plan balances 15 over two), listed on their StreamAgents, and
        // no Kubernetes object per partition.
        var topic = client.resources(io.streamhouse.lease.api.v1alpha1.StreamTopic.class).inNamespace(ns).withName("payments");
        eventually().untilAsserted(() -> {
            var status = topic.get().getStatus();
            assertThat(status).isNotNull();
            assertThat(status.getHeld()).isEqualTo(12);
            assertThat(status.condition("Ready").getStatus()).isEqualTo("True");
            assertThat(status.getAgentsHolding()).isEqualTo(2);
        });
        eventually().untilAsserted(() -> {
            int listed = 0;
            for (String agent : List.of("agent-1", "agent-2")) {
                var leases = client.resources(StreamAgent.class).inNamespace(ns).withName(agent).get().getStatus().getLeases();
                listed += leases == null ? 0 : leases.stream().filter(h -> h.getTopic().equals("payments"))
                        .mapToInt(io.streamhouse.lease.api.v1alpha1.HeldTopic::getCount).sum();
            }
            assertThat(listed).isEqualTo(12);
        });
        assertThat(client.resources(PartitionLease.class).inNamespace(ns).list().getItems()).hasSize(3);
    }


    @Test
    void podsMadeFromTheExampleAgentTemplateRunTheLibraryAndHoldTheirLeases() throws Exception {
        // The install's namespace and agent RBAC, and the examples' Secret and Deployment, as shipped.
        for (String file : List.of("deploy/00-namespace.yaml", "deploy/02-agent-rbac.yaml",
                "deploy/examples/database-secret.yaml", "deploy/examples/agent-deployment.yaml")) {
            for (HasMetadata r : load(file)) {
                client.resource(r).createOr(existing -> existing.update());
            }
        }
        Deployment deployment = client.apps().deployments().inNamespace("streamhouse").withName("streamhouse-agent").get();
        String agentNs = deployment.getMetadata().getNamespace();
        PodTemplateSpec template = deployment.getSpec().getTemplate();
        int replicas = deployment.getSpec().getReplicas();
        assertThat(replicas).isPositive();

        // What the ReplicaSet controller would do (there is none here): a ReplicaSet owned by the
        // Deployment, pods named <rs>-<suffix> with the template's labels plus pod-template-hash.
        String hash = Long.toHexString(System.nanoTime()).substring(0, 10);
        Map<String, String> podLabels = new HashMap<>(template.getMetadata().getLabels());
        podLabels.put("pod-template-hash", hash);
        ReplicaSet rs = client.apps().replicaSets().inNamespace(agentNs).resource(new ReplicaSetBuilder()
                .withNewMetadata().withName(deployment.getMetadata().getName() + "-" + hash).withNamespace(agentNs)
                    .withLabels(podLabels).withOwnerReferences(owner(deployment)).endMetadata()
                .withNewSpec().withReplicas(replicas)
                    .withNewSelector().withMatchLabels(Map.of("pod-template-hash", hash)).addToMatchLabels(
                            deployment.getSpec().getSelector().getMatchLabels()).endSelector()
                    .withNewTemplate().withNewMetadataLike(template.getMetadata()).withLabels(podLabels).endMetadata()
                        .withSpec(template.getSpec()).endTemplate()
                .endSpec().build()).create();

        List<Pod> pods = new ArrayList<>();
        for (int i = 0; i < replicas; i++) {
            String node = "node-" + hash + "-" + i;
            Fixtures.node(client, node, "zone-" + (char) ('a' + i % 3));
            Pod pod = new PodBuilder().withNewMetadata()
                    .withName(rs.getMetadata().getName() + "-" + Long.toString(36L * 36 * 36 * 36 + i, 36))
                    .withNamespace(agentNs).withLabels(podLabels)
                    .withAnnotations(template.getMetadata().getAnnotations()).withOwnerReferences(owner(rs)).endMetadata()
                    .withSpec(template.getSpec()).editSpec().withNodeName(node).endSpec().build();
            pods.add(readyPod(pod));
        }

        String topic = "deploy-" + hash;
        Map<LeaseKey, Long> acquired = new ConcurrentHashMap<>();
        List<LeaseClient> agents = new ArrayList<>();
        Path podinfo = Files.createTempDirectory("podinfo-");
        // The agents connect as the example Secret's login, which the example's pods name in their
        // annotation: a member of the agents' role, with no privilege on any table (the operator
        // here is the embedded superuser, trusted). The URL is this test's database.
        Map<String, String> firstEnv = containerEnvironment(pods.get(0), podinfo.resolve("env"));
        String login = firstEnv.get("STREAMHOUSE_DB_USER");
        assertThat(login).isEqualTo(template.getMetadata().getAnnotations().get(StreamAgent.DATABASE_USER_ANNOTATION));
        try (Connection c = operatorStore.getConnection(); Statement st = c.createStatement()) {
            st.execute("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'streamhouse_agents') THEN"
                    + " CREATE ROLE streamhouse_agents NOLOGIN; END IF; END $$");
            st.execute("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '" + login + "') THEN"
                    + " CREATE ROLE \"" + login + "\" LOGIN IN ROLE streamhouse_agents; END IF; END $$");
        }
        DatabaseGrants.grant(operatorStore, "postgres", "streamhouse_agents");
        String password = firstEnv.get("STREAMHOUSE_DB_PASSWORD");
        try (HikariDataSource agentPool = Database.pool(new Database.PoolSettings(
                ((HikariDataSource) operatorStore).getJdbcUrl().replaceAll("\\?.*", ""), login,
                password == null || password.isEmpty() ? null : password, 4, Duration.ofSeconds(5)), "agents")) {
            for (Pod pod : pods) {
                StreamAgent self = readyOrWaitingStreamAgent(agentNs, pod.getMetadata().getName());
                assertThat(self.getSpec().getSessionKeeper())
                        .as("the template says session-keeper: agent").isEqualTo(SessionKeeper.Agent);
                KubernetesClient asAgent = clientAs(agentNs, template.getSpec().getServiceAccountName());
                Map<String, String> env = containerEnvironment(pod, podinfo.resolve(pod.getMetadata().getName()));
                LeaseClient agent = LeaseClient.builder(AgentIdentity.fromEnvironment(env), asAgent, agentPool)
                        .listener(new LeaseListener() {
                            @Override
                            public void acquired(LeaseKey key, long epoch) {
                                acquired.put(key, epoch);
                            }
                        }).build().start();
                agents.add(agent);
                assertThat(agent.agentId().value()).isEqualTo(pod.getMetadata().getName());
            }
            for (int i = 0; i < pods.size(); i++) {
                PartitionLease lease = Fixtures.lease(agentNs, topic + "-" + i, topic, i, "default");
                lease.getSpec().setPreferredAgent(pods.get(i).getMetadata().getName());
                client.resource(lease).create();
            }

            for (int i = 0; i < pods.size(); i++) {
                String name = pods.get(i).getMetadata().getName();
                StreamAgent agent = readyStreamAgent(agentNs, name);
                assertThat(agent.getSpec().getZone()).isEqualTo("zone-" + (char) ('a' + i % 3));
                assertThat(agent.getStatus().getDatabaseUser()).isEqualTo(login);
                LeaseClient library = agents.get(i);
                LeaseKey key = LeaseKey.of(topic, i);
                eventually().until(() -> library.epoch(topic, key.partition()) > 0);
                assertThat(acquired).containsKey(key);
                long epoch = library.epoch(topic, key.partition());
                Integer written = library.fenced(topic, key.partition(), epoch, c -> 1);
                assertThat(written).isEqualTo(1);
            }
        } finally {
            agents.forEach(LeaseClient::close);
            for (int i = 0; i < pods.size(); i++) {
                client.resources(PartitionLease.class).inNamespace(agentNs).withName(topic + "-" + i).delete();
            }
        }
    }

    // ------------------------------------------------------------------ helpers

    List<HasMetadata> load(String file) throws IOException {
        try (InputStream in = Files.newInputStream(PROJECT.resolve(file))) {
            return client.load(in).items();
        }
    }

    Pod readyPod(Pod pod) {
        Pod created = client.pods().inNamespace(pod.getMetadata().getNamespace()).resource(pod).create();
        return Fixtures.setReady(client, created, true);
    }

    StreamAgent readyStreamAgent(String name) {
        return readyStreamAgent(ns, name);
    }

    StreamAgent readyStreamAgent(String namespace, String name) {
        eventually().until(() -> {
            StreamAgent a = client.resources(StreamAgent.class).inNamespace(namespace).withName(name).get();
            return a != null && a.getStatus() != null && a.getStatus().getPhase() == StreamAgentPhase.Ready;
        });
        return client.resources(StreamAgent.class).inNamespace(namespace).withName(name).get();
    }

    /** A library agent's StreamAgent exists before its session does (the library opens it). */
    StreamAgent readyOrWaitingStreamAgent(String namespace, String name) {
        eventually().until(() -> client.resources(StreamAgent.class).inNamespace(namespace).withName(name).get() != null);
        return client.resources(StreamAgent.class).inNamespace(namespace).withName(name).get();
    }

    @SuppressWarnings("unchecked")
    Map<String, Object> storedSpec(String name) {
        GenericKubernetesResource raw = client.genericKubernetesResources("streamhouse.io/v1alpha1", "StreamAgent")
                .inNamespace(ns).withName(name).get();
        return (Map<String, Object>) raw.getAdditionalProperties().get("spec");
    }

    String pinnedLease(String name, String agentId) {
        PartitionLease lease = Fixtures.lease(ns, name, name + "-" + ns, 0, "default");
        lease.getSpec().setAgentGroup(null); // as a user writes it: the group left to its default
        lease.getSpec().setPreferredAgent(agentId);
        client.resource(lease).create();
        return name;
    }

    void heldBy(String lease, String agentId) {
        eventually().untilAsserted(() -> {
            PartitionLease l = client.resources(PartitionLease.class).inNamespace(ns).withName(lease).get();
            assertThat(l.getStatus()).isNotNull();
            assertThat(l.getStatus().getHolder()).isEqualTo(agentId);
            assertThat(l.getStatus().condition("Held").getStatus()).isEqualTo("True");
        });
    }

    static io.fabric8.kubernetes.api.model.OwnerReference owner(HasMetadata owner) {
        return new OwnerReferenceBuilder().withApiVersion(owner.getApiVersion()).withKind(owner.getKind())
                .withName(owner.getMetadata().getName()).withUid(owner.getMetadata().getUid())
                .withController(true).withBlockOwnerDeletion(true).build();
    }

    /** A client holding a token of {@code serviceAccount}, as a pod's mounted token gives it. */
    KubernetesClient clientAs(String namespace, String serviceAccount) {
        String token = client.serviceAccounts().inNamespace(namespace).withName(serviceAccount)
                .tokenRequest(new TokenRequestBuilder().withNewSpec().withExpirationSeconds(3600L).endSpec().build())
                .getStatus().getToken();
        Config config = new ConfigBuilder(Config.empty()).withMasterUrl(client.getConfiguration().getMasterUrl())
                .withTrustCerts(true).withOauthToken(token).withNamespace(namespace).build();
        return new KubernetesClientBuilder().withConfig(config).build();
    }

    /**
     * The first container's environment as the kubelet would give it: literal values, Downward API
     * fields, Secret keys; a variable naming a Downward API volume's mount path points at a folder
     * holding that volume's {@code annotations} file, written the way the kubelet writes it.
     */
    Map<String, String> containerEnvironment(Pod pod, Path volumeDir) throws IOException {
        var container = pod.getSpec().getContainers().get(0);
        Map<String, String> mounts = new HashMap<>();
        for (VolumeMount m : container.getVolumeMounts()) {
            var volume = pod.getSpec().getVolumes().stream().filter(v -> v.getName().equals(m.getName())).findFirst().orElseThrow();
            if (volume.getDownwardAPI() != null) {
                Files.createDirectories(volumeDir);
                Map<String, String> sorted = new TreeMap<>(pod.getMetadata().getAnnotations());
                String text = sorted.entrySet().stream().map(e -> e.getKey() + "=\"" + e.getValue()
                        .replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"")
                        .collect(Collectors.joining("\n"));
                Files.writeString(volumeDir.resolve("annotations"), text, StandardCharsets.UTF_8);
                mounts.put(m.getMountPath(), volumeDir.toString());
            }
        }
        Map<String, String> env = new HashMap<>();
        for (EnvVar v : container.getEnv()) {
            String value;
            if (v.getValue() != null) {
                value = mounts.getOrDefault(v.getValue(), v.getValue());
            } else if (v.getValueFrom().getFieldRef() != null) {
                value = switch (v.getValueFrom().getFieldRef().getFieldPath()) {
                    case "metadata.name" -> pod.getMetadata().getName();
                    case "metadata.namespace" -> pod.getMetadata().getNamespace();
                    default -> throw new AssertionError("field " + v.getValueFrom().getFieldRef().getFieldPath());
                };
            } else {
                var ref = v.getValueFrom().getSecretKeyRef();
                Secret secret = client.secrets().inNamespace(pod.getMetadata().getNamespace()).withName(ref.getName()).get();
                String data = secret.getData() == null ? null : secret.getData().get(ref.getKey());
                value = data == null ? "" : new String(java.util.Base64.getDecoder().decode(data), StandardCharsets.UTF_8);
            }
            env.put(v.getName(), value);
        }
        assertThat(env).containsKeys(AgentIdentity.NAMESPACE_ENV, AgentIdentity.NAME_ENV);
        return env;
    }

}
