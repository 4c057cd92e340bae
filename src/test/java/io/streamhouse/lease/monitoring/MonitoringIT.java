package io.streamhouse.lease.monitoring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import com.zaxxer.hikari.HikariDataSource;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.micrometer.prometheus.PrometheusConfig;
import io.micrometer.prometheus.PrometheusMeterRegistry;
import io.streamhouse.lease.agent.AgentIdentity;
import io.streamhouse.lease.agent.LeaseClient;
import io.streamhouse.lease.agent.LeaseClientMetrics;
import io.streamhouse.lease.api.v1alpha1.PartitionLease;
import io.streamhouse.lease.api.v1alpha1.PartitionLeasePhase;
import io.streamhouse.lease.api.v1alpha1.SessionKeeper;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.it.LocalApiServer;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.operator.Fixtures;
import io.streamhouse.lease.store.Database;
import io.streamhouse.lease.store.LocalPostgres;
import io.streamhouse.lease.store.PostgresLeaseStore;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The monitoring with the real tools: Debian's Prometheus scrapes the packaged operator (its own
 * process, prod profile, a real API server) and two agents of the agent library, with the shipped
 * rules (their {@code for:} shortened to 5 s). An agent's session is ended (a failover) and comes
 * back; then PostgreSQL is stopped, StreamHouseLeaseStoreDown must fire, and once PostgreSQL is
 * back it must resolve. Afterwards every metric the rules and the dashboard name must be served
 * (by the operator on /q/metrics, or, streamhouse_agent_*, by an agent), every dashboard query
 * must run, and the dashboard's panels are drawn from this run's data into
 * target/monitoring/dashboard.svg (docs/monitoring.md shows a copy).
 */
class MonitoringIT {

    static final Path PROJECT = LocalApiServer.projectDir();
    static final Path OUT = PROJECT.resolve("target/monitoring");
    static final HttpClient HTTP = HttpClient.newHttpClient();
    static final ObjectMapper JSON = new ObjectMapper();
    static final Duration TTL = Duration.ofSeconds(4);
    /** Grafana's $__rate_interval for a 1 s scrape. */
    static final String RATE_INTERVAL = "5s";
    static final String ALERT = "StreamHouseLeaseStoreDown";

    static LocalApiServer api;
    static KubernetesClient client;
    static LocalPostgres pg;
    static Path pgData;
    static int pgPort;
    static HikariDataSource agentPool;
    static Process operator;
    static Process prometheus;
    static Path operatorLog;
    static Path prometheusLog;
    static int operatorPort;
    static int prometheusPort;
    static final List<HttpServer> agentEndpoints = new ArrayList<>();
    static final List<LeaseClient> agents = new ArrayList<>();

    @BeforeAll
    static void start() throws Exception {
        MonitoringRulesTest.Result install = MonitoringRulesTest.run("bash",
                PROJECT.resolve("hack/monitoring/install-prometheus.sh").toString());
        Assumptions.assumeTrue(install.code() == 0, "Prometheus cannot be installed here (needs root and apt-get): "
                + install.output());
        Files.createDirectories(OUT);
        api = LocalApiServer.start(null);
        client = new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(Files.readString(api.kubeconfig()))).build();
        for (String crd : new String[] {"partitionleases", "streamagents", "streamtopics"}) {
            for (var r : client.load(Files.newInputStream(PROJECT.resolve("crds/" + crd + ".streamhouse.io-v1.yml"))).items()) {
                client.resource(r).createOr(existing -> existing.update());
            }
        }
        pgData = Files.createTempDirectory("monitoring-pg");
        pg = LocalPostgres.start(pgData, Map.of());
        pgPort = pg.port();
        agentPool = Database.pool(new Database.PoolSettings(url(), "postgres", null, 6, Duration.ofSeconds(2)), "monitoring-agents");
    }

    @AfterAll
    static void stop() throws Exception {
        agents.forEach(LeaseClient::close);
        agentEndpoints.forEach(s -> s.stop(0));
        for (Process p : new Process[] {prometheus, operator}) {
            if (p != null && p.isAlive()) {
                p.destroy();
                if (!p.waitFor(30, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                }
            }
        }
        if (agentPool != null) {
            agentPool.close();
        }
        if (client != null) {
            client.close();
        }
        if (pg != null) {
            pg.close();
        }
        if (api != null) {
            api.close();
        }
    }

    @Test
    void theStoreAlertFiresWhilePostgresIsDownAndResolvesAndEveryMetricNamedIsServed() throws Exception {
        String ns = namespace("monitoring");
        startOperator(ns);
        for (String name : List.of("agent-a", "agent-b")) {
            StreamAgent agent = Fixtures.agent(ns, name, name, "g1");
            agent.getSpec().setSessionKeeper(SessionKeeper.Agent);
            client.resource(agent).create();
        }
        LeaseClient a = agent(ns, "agent-a");
        LeaseClient b = agent(ns, "agent-b");
        startPrometheus(ns);
        double begin = now();
        String topic = "orders-" + ns;
        for (int p = 0; p < 6; p++) {
            client.resource(Fixtures.lease(ns, "p" + p, topic, p, "g1")).create();
        }
        awaitAllHeld(ns, 6);

        AtomicBoolean writing = new AtomicBoolean(true);
        Thread writer = new Thread(() -> {
            while (writing.get()) {
                for (LeaseClient c : List.of(a, b)) {
                    for (Map.Entry<LeaseKey, Long> held : c.held().entrySet()) {
                        try {
                            c.fenced(held.getKey().topic(), held.getKey().partition(), held.getValue(), conn -> 1);
                        } catch (RuntimeException refusedOrStoreDown) {
                            // counted by the library (refused), or the store is down: both are what the charts show
                        }
                    }
                }
                parkMillis(250);
            }
        }, "monitoring-writer");
        writer.setDaemon(true);
        writer.start();
        try {
            awaitScrapes(8); // the quiet state, for the picture

            // A failover: agent-b's session is ended under it (as when its pod goes). Its leases move
            // to agent-a (AgentLost); agent-b finds its session lost, registers again, and gets its
            // share back. A write with an epoch it held before is refused.
            Map<LeaseKey, Long> heldByB = b.held();
            assertThat(heldByB).isNotEmpty();
            new PostgresLeaseStore(agentPool).expire(b.agentId(), b.sessionEpoch());
            Map.Entry<LeaseKey, Long> stale = heldByB.entrySet().iterator().next();
            await("agent-b's stale write refused").atMost(Duration.ofSeconds(30)).until(() -> {
                try {
                    b.fenced(stale.getKey().topic(), stale.getKey().partition(), stale.getValue(), conn -> 1);
                    return false;
                } catch (RuntimeException refused) {
                    return b.stats().fencedRefused() > 0;
                }
            });
            await("agent-b back with leases").atMost(Duration.ofSeconds(60)).until(() -> !b.held().isEmpty());
            awaitAllHeld(ns, 6);
            awaitScrapes(8);

            // The outage. A new lease makes a reconcile fail (JOSDK's reconciliations_failure_total).
            double down = now();
            pg.close();
            client.resource(Fixtures.lease(ns, "p6", topic, 6, "g1")).create();
            double firing = awaitAlert("firing", Duration.ofSeconds(90));
            assertThat(firing - down).as("fires after the probe (5 s) and the shortened for: (5 s)").isGreaterThanOrEqualTo(5);

            pg = LocalPostgres.start(pgData, Map.of(), pgPort);
            double up = now();
            double resolved = awaitAlert(null, Duration.ofSeconds(90));
            System.out.printf("monitoring: %s pending+firing %.1f s after PostgreSQL stopped, resolved %.1f s after it was back%n",
                    ALERT, firing - down, resolved - up);
            awaitAllHeld(ns, 7);
            awaitScrapes(10);

            everyMetricNamedIsServed();
            draw(begin, now(), down, up);
        } finally {
            writing.set(false);
            writer.join(5_000);
        }
    }

    // ------------------------------------------------------------------ checks

    void everyMetricNamedIsServed() throws Exception {
        String operatorMetrics = get("http://127.0.0.1:" + operatorPort + "/q/metrics");
        Files.writeString(OUT.resolve("operator-metrics.txt"), operatorMetrics);
        Set<String> served = new HashSet<>(families(operatorMetrics));
        for (HttpServer endpoint : agentEndpoints) {
            String agentMetrics = get("http://127.0.0.1:" + endpoint.getAddress().getPort() + "/metrics");
            Files.writeString(OUT.resolve("agent-metrics.txt"), agentMetrics);
            served.addAll(families(agentMetrics));
        }
        Set<String> named = new TreeSet<>(MonitoringManifestsTest.ruleMetrics());
        named.addAll(MonitoringManifestsTest.dashboardMetrics());
        assertThat(named).as("names found in the rules and the dashboard").hasSizeGreaterThan(15);
        assertThat(served).as("served by the operator (/q/metrics) or an agent; the log: " + operatorLog)
                .containsAll(named);
    }

    /** The series names of a Prometheus text exposition. */
    static Set<String> families(String exposition) {
        Set<String> names = new HashSet<>();
        for (String line : exposition.split("\n")) {
            if (!line.isBlank() && !line.startsWith("#")) {
                Matcher m = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)").matcher(line);
                if (m.find()) {
                    names.add(m.group(1));
                }
            }
        }
        return names;
    }

    /**
     * Waits until Prometheus holds {@code n} more successful scrapes of the operator than now (the
     * picture needs the states between the steps drawn, not only the steps).
     */
    void awaitScrapes(int n) {
        double since = now();
        await(n + " scrapes").atMost(Duration.ofSeconds(n * 5L)).pollInterval(Duration.ofMillis(500)).until(() -> {
            long window = (long) Math.ceil(now() - since);
            if (window < 1) {
                return false;
            }
            JsonNode result = JSON.readTree(get(prometheus("/api/v1/query?query=" + URLEncoder.encode(
                    "sum_over_time(up{job=\"streamhouse-lease-operator\"}[" + window + "s])", StandardCharsets.UTF_8))))
                    .path("data").path("result");
            return !result.isEmpty() && result.get(0).path("value").get(1).asDouble() >= n;
        });
    }

    /** Waits until the alert is in {@code state} (null: not there at all, resolved); returns when. */
    double awaitAlert(String state, Duration atMost) {
        await(ALERT + " " + (state == null ? "resolved" : state) + "; Prometheus log " + prometheusLog + ", operator log "
                + operatorLog).atMost(atMost).pollInterval(Duration.ofMillis(500)).until(() -> {
            JsonNode alerts = JSON.readTree(get(prometheus("/api/v1/alerts"))).path("data").path("alerts");
            String seen = null;
            for (JsonNode alert : alerts) {
                if (ALERT.equals(alert.path("labels").path("alertname").asText())) {
                    seen = alert.path("state").asText();
                }
            }
            return state == null ? seen == null : state.equals(seen);
        });
        return now();
    }

    // ------------------------------------------------------------------ the picture

    /** Runs each dashboard query over the run and draws them; every query must run. */
    void draw(double start, double end, double down, double up) throws Exception {
        List<DashboardPlot.Chart> charts = new ArrayList<>();
        StringBuilder data = new StringBuilder();
        for (MonitoringManifestsTest.Panel panel : MonitoringManifestsTest.panels()) {
            List<DashboardPlot.Series> series = new ArrayList<>();
            for (MonitoringManifestsTest.Query q : panel.queries()) {
                String expr = q.expr().replace("$__rate_interval", RATE_INTERVAL);
                JsonNode response = JSON.readTree(get(prometheus("/api/v1/query_range?query="
                        + URLEncoder.encode(expr, StandardCharsets.UTF_8)
                        + "&start=" + start + "&end=" + end + "&step=1")));
                assertThat(response.path("status").asText()).as(expr + ": " + response).isEqualTo("success");
                for (JsonNode result : response.path("data").path("result")) {
                    List<DashboardPlot.Point> points = new ArrayList<>();
                    for (JsonNode v : result.path("values")) {
                        points.add(new DashboardPlot.Point(v.get(0).asDouble(), parse(v.get(1).asText())));
                    }
                    String name = legend(q.legend(), result.path("metric"));
                    series.add(new DashboardPlot.Series(name, points));
                    data.append(panel.title()).append('\t').append(name).append('\t').append(points.size()).append(" points, max ")
                            .append(points.stream().mapToDouble(DashboardPlot.Point::v).filter(Double::isFinite).max().orElse(Double.NaN))
                            .append('\n');
                }
            }
            charts.add(new DashboardPlot.Chart(panel.title(), panel.unit(), series));
        }
        Files.writeString(OUT.resolve("dashboard.svg"), DashboardPlot.svg(
                "StreamHouse lease operator: the dashboard's queries over one MonitoringIT run (Prometheus, 1 s scrape)",
                charts, start, end, List.of(new DashboardPlot.Span(down, up, "PostgreSQL stopped"))));
        Files.writeString(OUT.resolve("dashboard-series.txt"), data.toString());
        System.out.printf("monitoring: %d panels drawn to %s%n%s", charts.size(), OUT.resolve("dashboard.svg"), data);
    }

    static double parse(String value) {
        return switch (value) {
            case "NaN" -> Double.NaN;
            case "+Inf" -> Double.POSITIVE_INFINITY;
            case "-Inf" -> Double.NEGATIVE_INFINITY;
            default -> Double.parseDouble(value);
        };
    }

    /** Grafana's legend format: {{label}} replaced by the series' label (empty when it has none). */
    static String legend(String format, JsonNode metric) {
        if (format == null || format.isBlank()) {
            return metric.toString();
        }
        Matcher m = Pattern.compile("\\{\\{\\s*(\\w+)\\s*}}").matcher(format);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            m.appendReplacement(out, Matcher.quoteReplacement(metric.path(m.group(1)).asText("")));
        }
        m.appendTail(out);
        return out.toString().replaceAll("\\s+", " ").strip();
    }

    // ------------------------------------------------------------------ the parts

    static void startOperator(String leaseNamespace) throws Exception {
        operatorPort = freePort();
        operatorLog = Files.createTempFile("monitoring-operator-", ".log");
        String java = ProcessHandle.current().info().command().orElse("java");
        ProcessBuilder builder = new ProcessBuilder(java, "-Xmx384m", "-Dquarkus.http.port=" + operatorPort,
                "-Dstreamhouse.db.url=" + url(), "-Dstreamhouse.db.user=postgres",
                "-jar", PROJECT.resolve("target/quarkus-app/quarkus-run.jar").toString()) // the prod profile
                .redirectErrorStream(true).redirectOutput(operatorLog.toFile());
        builder.environment().put("KUBECONFIG", api.kubeconfig().toString());
        builder.environment().put("KUBERNETES_NAMESPACE", leaseNamespace);
        builder.environment().put("HOSTNAME", "monitoring-operator");
        operator = builder.start();
        await("operator started, log " + operatorLog).atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(200))
                .until(() -> Files.readString(operatorLog).contains(" started in "));
    }

    /** An agent of the agent library with its metrics served at /metrics, as an agent pod would. */
    static LeaseClient agent(String ns, String name) throws IOException {
        LeaseClient c = LeaseClient.builder(AgentIdentity.of(ns, name), client, agentPool)
                .defaultSessionTimeout(TTL).build().start();
        agents.add(c);
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        new LeaseClientMetrics(c).bindTo(registry);
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/metrics", exchange -> {
            byte[] body = registry.scrape().getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", "text/plain; version=0.0.4");
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        server.start();
        agentEndpoints.add(server);
        return c;
    }

    /** Prometheus with the shipped rules, every for: shortened to 5 s, scraping each second. */
    static void startPrometheus(String agentNamespace) throws Exception {
        prometheusPort = freePort();
        Path dir = Files.createTempDirectory("monitoring-prometheus");
        String rules = Files.readString(MonitoringRulesTest.RULES).replaceAll("(?m)^(\\s+for:) \\S+$", "$1 5s");
        assertThat(rules).contains("for: 5s").doesNotContain("for: 1m");
        Files.writeString(dir.resolve("rules.yaml"), rules);
        StringBuilder config = new StringBuilder("""
                global:
                  scrape_interval: 1s
                  scrape_timeout: 1s
                  evaluation_interval: 1s
                rule_files: [rules.yaml]
                scrape_configs:
                  - job_name: streamhouse-lease-operator
                    metrics_path: /q/metrics
                    static_configs:
                      - targets: ["127.0.0.1:%d"]
                        labels: {namespace: streamhouse, pod: streamhouse-lease-operator-0}
                  - job_name: streamhouse-agents
                    metrics_path: /metrics
                    static_configs:
                """.formatted(operatorPort));
        for (int i = 0; i < agentEndpoints.size(); i++) {
            config.append("      - targets: [\"127.0.0.1:").append(agentEndpoints.get(i).getAddress().getPort())
                    .append("\"]\n        labels: {namespace: ").append(agentNamespace).append(", pod: ")
                    .append(agents.get(i).agentId().value()).append("}\n");
        }
        Files.writeString(dir.resolve("prometheus.yml"), config.toString());
        prometheusLog = dir.resolve("prometheus.log");
        prometheus = new ProcessBuilder("prometheus", "--config.file=" + dir.resolve("prometheus.yml"),
                "--storage.tsdb.path=" + dir.resolve("data"), "--web.listen-address=127.0.0.1:" + prometheusPort)
                .directory(dir.toFile()).redirectErrorStream(true).redirectOutput(prometheusLog.toFile()).start();
        await("Prometheus scraping every target, log " + prometheusLog).atMost(Duration.ofSeconds(60))
                .pollInterval(Duration.ofMillis(500)).until(() -> {
                    JsonNode targets = JSON.readTree(get(prometheus("/api/v1/targets"))).path("data").path("activeTargets");
                    int up = 0;
                    for (JsonNode t : targets) {
                        up += t.path("health").asText().equals("up") ? 1 : 0;
                    }
                    return up == 1 + agentEndpoints.size();
                });
    }

    static void awaitAllHeld(String ns, int n) {
        await(n + " leases held, operator log " + operatorLog).atMost(Duration.ofSeconds(90)).until(() -> {
            List<PartitionLease> leases = client.resources(PartitionLease.class).inNamespace(ns).list().getItems();
            return leases.size() == n && leases.stream().allMatch(l -> l.getStatus() != null
                    && l.getStatus().getPhase() == PartitionLeasePhase.Held);
        });
    }

    static String prometheus(String path) {
        return "http://127.0.0.1:" + prometheusPort + path;
    }

    static String get(String url) throws IOException, InterruptedException {
        HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).as(url + ": " + response.body()).isEqualTo(200);
        return response.body();
    }

    static String namespace(String prefix) {
        String ns = prefix + "-" + System.nanoTime() % 100000;
        client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(ns).endMetadata().build()).create();
        return ns;
    }

    static String url() {
        return pg.jdbcUrl("postgres").replaceAll("\\?.*", "");
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    static double now() {
        return System.currentTimeMillis() / 1000.0;
    }

    static void parkMillis(long ms) {
        java.util.concurrent.locks.LockSupport.parkNanos(Duration.ofMillis(ms).toNanos());
    }
}
