package io.streamhouse.lease.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.mockwebserver.http.RecordedRequest;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.quarkus.test.kubernetes.client.KubernetesServer;
import io.quarkus.test.kubernetes.client.KubernetesTestServer;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import io.streamhouse.lease.agent.AgentIdentity;
import io.streamhouse.lease.agent.LeaseClient;
import io.streamhouse.lease.api.v1alpha1.PartitionLease;
import io.streamhouse.lease.api.v1alpha1.PartitionLeasePhase;
import io.streamhouse.lease.api.v1alpha1.SessionKeeper;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.api.v1alpha1.StreamAgentPhase;
import io.streamhouse.lease.operator.Fixtures;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;

/**
 * Every call the operator makes to the API server, in a scenario that runs each of its paths
 * (pod agent, assignment, status, events, finalizers, lease and pod deletion), is
 * allowed by the operator's rules in deploy/01-operator-rbac.yaml. The mock API server records
 * every request from the operator's start on; the test's own requests carry another user agent
 * and are left out. An agent running the library, on a client with a user agent of its own, is
 * checked the same way against deploy/02-agent-rbac.yaml.
 */
@QuarkusTest
@WithKubernetesTestServer
@TestProfile(RbacCoverageTest.OwnServer.class)
class RbacCoverageTest {

    /**
     * A profile of its own: Quarkus starts the operator afresh, with a mock API server of its
     * own, so the recorded requests include its start-up (lists and watches) and no other test's.
     */
    public static class OwnServer implements QuarkusTestProfile {
    }

    static final String TEST_AGENT = "rbac-coverage-test";
    static final String LIBRARY_AGENT = "rbac-coverage-agent-library";

    @KubernetesTestServer
    KubernetesServer server;
    @Inject
    KubernetesClient operatorClient;
    @Inject
    DataSource dataSource;

    /** What RBAC sees of a request. */
    record Access(String group, String resource, String verb, String namespace) {
        @Override
        public String toString() {
            return verb + " " + (group.isEmpty() ? "" : group + "/") + resource + (namespace == null ? "" : " in " + namespace);
        }
    }

    @Test
    void theOperatorsRulesAllowEveryCallItMakes() throws Exception {
        String ns = "rbac-" + System.nanoTime() % 100000;
        try (KubernetesClient test = new KubernetesClientBuilder().withConfig(new ConfigBuilder(operatorClient.getConfiguration())
                .withUserAgent(TEST_AGENT).build()).build()) {
            Fixtures.node(test, "node-" + ns, "zone-a");
            Pod pod = Fixtures.readyAgentPod(test, ns, "agent-0", "agent-" + ns, "g1", "node-" + ns);
            test.resource(Fixtures.lease(ns, "p0", "t-" + ns, 0, "g1")).create();
            var lease = test.resources(PartitionLease.class).inNamespace(ns).withName("p0");
            await().atMost(Duration.ofSeconds(30)).until(() -> lease.get().getStatus() != null
                    && lease.get().getStatus().getPhase() == PartitionLeasePhase.Held);
            lease.delete(); // the Cleaner releases, then its finalizer goes
            await().atMost(Duration.ofSeconds(30)).until(() -> lease.get() == null);
            // An agent running the library, on a client of its own, holds a lease, releases it, stops.
            StreamAgent selfKept = Fixtures.agent(ns, "lib", "lib-" + ns, "g2");
            selfKept.getSpec().setSessionKeeper(SessionKeeper.Agent);
            test.resource(selfKept).create();
            test.resource(Fixtures.lease(ns, "q0", "t-" + ns, 1, "g2")).create();
            try (KubernetesClient agentClient = new KubernetesClientBuilder().withConfig(new ConfigBuilder(
                    operatorClient.getConfiguration()).withUserAgent(LIBRARY_AGENT).build()).build();
                 LeaseClient library = LeaseClient.builder(AgentIdentity.of(ns, "lib"), agentClient, dataSource).build()) {
                library.start();
                library.ensureLease("t-" + ns, 1, Duration.ofSeconds(30));
                library.release("t-" + ns, 1);
            }
            test.pods().inNamespace(ns).withName(pod.getMetadata().getName()).delete();
            var agent = test.resources(StreamAgent.class).inNamespace(ns).withName("agent-0");
            await().atMost(Duration.ofSeconds(30)).until(() -> agent.get() == null
                    || agent.get().getStatus() != null && agent.get().getStatus().getPhase() != StreamAgentPhase.Ready);
            // Events are written once leases have settled (LeaseActivity), at most 10 s later.
            await().atMost(Duration.ofSeconds(30)).until(() -> !test.v1().events().inNamespace(ns).list().getItems().isEmpty());
        }

        List<PolicyRule> clusterRules = new ArrayList<>();
        List<PolicyRule> namespaceRules = new ArrayList<>(); // in the operator's namespace, streamhouse
        for (HasMetadata r : DeployManifestsTest.load(DeployManifestsTest.DEPLOY.resolve("01-operator-rbac.yaml"))) {
            if (r instanceof ClusterRole cr) {
                clusterRules.addAll(cr.getRules());
            } else if (r instanceof Role role) {
                namespaceRules.addAll(role.getRules());
            }
        }
        // A ClusterRole bound by a RoleBinding in the agents' own namespace: its rules hold there only.
        List<PolicyRule> agentRules = new ArrayList<>();
        for (HasMetadata r : DeployManifestsTest.load(DeployManifestsTest.DEPLOY.resolve("02-agent-rbac.yaml"))) {
            if (r instanceof ClusterRole role) {
                agentRules.addAll(role.getRules());
            }
        }
        assertThat(agentRules).as("the agents' rules").isNotEmpty();
        Set<String> made = new TreeSet<>();
        Set<String> madeByAgent = new TreeSet<>();
        Set<String> denied = new TreeSet<>();
        for (RecordedRequest request : drain()) {
            if (TEST_AGENT.equals(request.getHeader("User-Agent"))) {
                continue;
            }
            if (LIBRARY_AGENT.equals(request.getHeader("User-Agent"))) {
                Access access = access(request);
                if (access != null) {
                    madeByAgent.add(access.toString());
                    if (access.namespace() == null || !allows(agentRules, access)) {
                        denied.add("agent library: " + access + "  (" + request.getMethod() + " " + request.getPath() + ")");
                    }
                }
                continue;
            }
            Access access = access(request);
            if (access == null) {
                continue; // discovery and /version: allowed to every authenticated user
            }
            if (access.resource().equals("customresourcedefinitions")) {
                continue; // the test profile applies the CRDs (crd.apply); production installs them from crds/
            }
            made.add(access.toString());
            boolean allowed = allows(clusterRules, access)
                    || "streamhouse".equals(access.namespace()) && allows(namespaceRules, access);
            if (!allowed) {
                denied.add(access + "  (" + request.getMethod() + " " + request.getPath() + ")");
            }
        }
        System.out.println("operator calls seen: " + made);
        System.out.println("agent library calls seen: " + madeByAgent);
        assertThat(madeByAgent).as("the library reads its StreamAgent and nothing else: its leases come from the database")
                .containsExactly("get streamhouse.io/streamagents in " + ns);
        List<String> granted = new ArrayList<>();
        agentRules.forEach(rule -> rule.getApiGroups().forEach(g -> rule.getResources().forEach(r -> rule.getVerbs()
                .forEach(v -> granted.add(v + " " + (g.isEmpty() ? "" : g + "/") + r)))));
        assertThat(granted).as("the agents' Role grants what the library uses and nothing more")
                .containsExactly("get streamhouse.io/streamagents");
        assertThat(made).as("the scenario must reach the operator's main paths").contains(
                "create events in " + ns, "patch streamhouse.io/partitionleases/status in " + ns,
                "patch streamhouse.io/partitionleases in " + ns, "create streamhouse.io/streamagents in " + ns,
                "get nodes", "list pods", "watch pods", "list streamhouse.io/partitionleases",
                "watch streamhouse.io/streamagents");
        assertThat(denied).as("calls the deploy/ RBAC would refuse").isEmpty();
    }

    List<RecordedRequest> drain() throws InterruptedException {
        List<RecordedRequest> out = new ArrayList<>();
        RecordedRequest r;
        while ((r = server.getKubernetesMockServer().takeRequest(10, TimeUnit.MILLISECONDS)) != null) {
            out.add(r);
        }
        return out;
    }

    static boolean allows(List<PolicyRule> rules, Access a) {
        return rules.stream().anyMatch(rule -> rule.getApiGroups().contains(a.group())
                && rule.getResources().contains(a.resource()) && rule.getVerbs().contains(a.verb()));
    }

    /** The RBAC attributes of a request (group, resource[/subresource], verb, namespace), or null for non-resource paths. */
    static Access access(RecordedRequest request) {
        String full = request.getPath();
        int q = full.indexOf('?');
        String query = q < 0 ? "" : full.substring(q + 1);
        String[] p = (q < 0 ? full : full.substring(0, q)).replaceAll("^/+", "").split("/");
        int i;
        String group;
        if (p.length >= 3 && p[0].equals("api")) { // /api/v1/...
            group = "";
            i = 2;
        } else if (p.length >= 4 && p[0].equals("apis")) { // /apis/group/version/...
            group = p[1];
            i = 3;
        } else {
            return null;
        }
        String namespace = null;
        if (p.length > i + 1 && p[i].equals("namespaces") && p.length > i + 2) {
            namespace = p[i + 1];
            i += 2;
        }
        String resource = p[i];
        String name = p.length > i + 1 ? p[i + 1] : null;
        String sub = p.length > i + 2 ? p[i + 2] : null;
        String verb = switch (request.getMethod()) {
            case "GET" -> query.contains("watch=true") ? "watch" : name == null ? "list" : "get";
            case "POST" -> "create";
            case "PUT" -> "update";
            case "PATCH" -> "patch";
            case "DELETE" -> name == null ? "deletecollection" : "delete";
            default -> request.getMethod().toLowerCase();
        };
        return new Access(group, sub == null ? resource : resource + "/" + sub, verb, namespace);
    }
}
