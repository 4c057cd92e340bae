package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import io.streamhouse.lease.api.v1alpha1.PartitionLease;
import io.streamhouse.lease.api.v1alpha1.PartitionLeasePhase;
import io.streamhouse.lease.testing.Namespaces;
import jakarta.inject.Inject;
import java.net.URI;
import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** What a Prometheus scrape and the kubelet's probes see. */
@QuarkusTest
@WithKubernetesTestServer
class ObservabilityTest {

    @Inject
    KubernetesClient client;
    @TestHTTPResource("/q/metrics")
    URL metrics;
    @TestHTTPResource("/q/health/ready")
    URL ready;

    static final HttpClient HTTP = HttpClient.newHttpClient();

    static HttpResponse<String> get(URL url) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(url.toString())).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void metricsShowTransitionsLeasesPerAgentCasLatencyAndReconciles() throws Exception {
        String ns = Namespaces.unique("obs-");
        String agentId = "agent-" + ns;
        client.resource(Fixtures.agent(ns, "a", agentId, "g1")).create();
        client.resource(Fixtures.lease(ns, "p0", "t-" + ns, 0, "g1")).create();
        client.resource(Fixtures.lease(ns, "p1", "t-" + ns, 1, "nobody")).create(); // a group with no agent
        var lease = client.resources(PartitionLease.class).inNamespace(ns).withName("p0");
        await().atMost(Duration.ofSeconds(30)).until(() -> lease.get().getStatus() != null
                && lease.get().getStatus().getPhase() == PartitionLeasePhase.Held);

        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
            String body = get(metrics).body();
            assertThat(body).containsPattern("streamhouse_lease_transitions_total\\{reason=\"Assigned\"} [1-9]");
            assertThat(body).contains("streamhouse_leases_held{agent=\"" + agentId + "\"} 1.0");
            assertThat(body).containsPattern("streamhouse_store_cas_seconds_count [1-9]");
            assertThat(body).containsPattern("streamhouse_store_cas_seconds_bucket\\{le=");
            // Per namespace and group: the lease of group "nobody" is unassigned, the held one's group reads 0.
            assertThat(body).contains("streamhouse_partitions_unassigned{group=\"nobody\",namespace=\"" + ns + "\"} 1.0")
                    .contains("streamhouse_partitions_unassigned{group=\"g1\",namespace=\"" + ns + "\"} 0.0");
            assertThat(body).contains("streamhouse_failovers_total");
            assertThat(body).as("the holder's StreamAgent listed its lease after the feed reported it")
                    .containsPattern("streamhouse_agent_status_lag_seconds_count [1-9]");
            assertThat(body).as("the embedded test database runs with fsync off").contains("streamhouse_store_durable 0.0");
            assertThat(body).contains("streamhouse_store_up 1.0").contains("streamhouse_change_feed_up 1.0");
            assertThat(body).containsPattern("streamhouse_agents\\{phase=\"Ready\"} [1-9]")
                    .contains("streamhouse_agents{phase=\"Conflict\"}");
            assertThat(body).containsPattern("hikaricp_connections_active\\{pool=\"streamhouse-lease-store\"}");
            assertThat(body).contains("reconciliations_success_total{controller_name=\"partitionlease\"}") // JOSDK
                    .containsPattern("reconciliations_execution_duration_seconds_count\\{[^}]*partitionlease");
        });
    }

    @Test
    void readyWhenTheStoreAnswersTheChangeFeedListensAndInformersSynced() throws Exception {
        HttpResponse<String> response = get(ready);
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.body()).contains("\"lease-store\"").contains("\"changeFeed\": \"listening\"")
                .contains("partitionlease") // the Java Operator SDK's check: every controller's informers synced
                .contains("\"durability\": \"LOCAL USE ONLY, embedded database: fsync is off");
    }
}
