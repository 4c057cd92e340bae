package io.streamhouse.lease.monitoring;

import static io.streamhouse.lease.monitoring.MonitoringRulesTest.list;
import static io.streamhouse.lease.monitoring.MonitoringRulesTest.run;
import static io.streamhouse.lease.monitoring.MonitoringRulesTest.yaml;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The prometheus-operator wrappers (PrometheusRule, PodMonitors) against the prometheus-operator's
 * published schemas (its CRDs cannot be installed here: models generated from them, installed from
 * npm by hack/monitoring/schema/install.sh), the PrometheusRule against the rules file it wraps,
 * and the Grafana dashboard's shape. That every query of the dashboard runs, and every metric it
 * and the rules name is served, is MonitoringIT's, against a real Prometheus.
 */
class MonitoringManifestsTest {

    static final Path RULE = Path.of("deploy/monitoring/prometheusrule.yaml");
    static final Path POD_MONITORS = Path.of("deploy/monitoring/podmonitor.yaml");
    static final Path DASHBOARD = Path.of("deploy/monitoring/dashboard.json");
    static Path validator;

    @BeforeAll
    static void install() throws Exception {
        MonitoringRulesTest.Result r = run("bash", "hack/monitoring/schema/install.sh");
        assertThat(r.code()).as("hack/monitoring/schema/install.sh: %s", r.output()).isZero();
        String[] lines = r.output().strip().split("\n");
        validator = Path.of(lines[lines.length - 1].strip(), "validate.mjs");
        assertThat(validator).exists();
    }

    static MonitoringRulesTest.Result validate(Path... files) throws Exception {
        List<String> command = new ArrayList<>(List.of("node", validator.toString()));
        for (Path f : files) {
            command.add(f.toString());
        }
        return run(command.toArray(String[]::new));
    }

    @Test
    void theWrappersAreValidAgainstThePrometheusOperatorSchemas() throws Exception {
        MonitoringRulesTest.Result r = validate(RULE, POD_MONITORS);
        assertThat(r.code()).as(r.output()).isZero();
        assertThat(r.output()).contains("VALID " + RULE + " PrometheusRule streamhouse-lease-operator")
                .contains("VALID " + POD_MONITORS + " PodMonitor streamhouse-lease-operator")
                .contains("VALID " + POD_MONITORS + " PodMonitor streamhouse-agents");
    }

    /** The validator must be able to say no, or the test above proves nothing. */
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "prometheusrule.yaml|for: 1m          |for: one minute",
        "prometheusrule.yaml|expr: streamhouse_store_up == 0|exprs: streamhouse_store_up == 0",
        "podmonitor.yaml    |port: http       |port: 8080",
        "podmonitor.yaml    |interval: 15s    |interval: every 15s",
    })
    void aBrokenCopyIsRefused(String file, String from, String to, @TempDir Path dir) throws Exception {
        Path source = Path.of("deploy/monitoring", file.strip());
        String text = Files.readString(source);
        assertThat(text).contains(from.strip());
        Path broken = dir.resolve(file.strip());
        Files.writeString(broken, text.replaceFirst(java.util.regex.Pattern.quote(from.strip()), to.strip()));
        MonitoringRulesTest.Result r = validate(broken);
        assertThat(r.code()).as(r.output()).isEqualTo(1);
        assertThat(r.output()).contains("INVALID " + broken);
    }

    @Test
    void thePrometheusRuleWrapsExactlyTheRulesFile() throws IOException {
        Map<String, Object> wrapped = yaml(RULE);
        @SuppressWarnings("unchecked")
        Map<String, Object> spec = (Map<String, Object>) wrapped.get("spec");
        assertThat(spec.get("groups")).as("run hack/monitoring/render-prometheusrule.sh after editing rules.yaml")
                .isEqualTo(yaml(MonitoringRulesTest.RULES).get("groups"));
    }

    @Test
    void theDashboardHasUniquePanelsEachWithQueriesOnTheSelectedDatasource() throws IOException {
        JsonNode dashboard = new ObjectMapper().readTree(Files.readString(DASHBOARD));
        assertThat(dashboard.path("uid").asText()).isEqualTo("streamhouse-lease-operator");
        Set<Integer> ids = new HashSet<>();
        int graphs = 0;
        for (JsonNode panel : dashboard.path("panels")) {
            assertThat(ids.add(panel.path("id").asInt())).as("panel id %s unique", panel.path("id")).isTrue();
            if (panel.path("type").asText().equals("row")) {
                continue;
            }
            graphs++;
            assertThat(panel.path("title").asText()).isNotBlank();
            assertThat(panel.path("description").asText()).as(panel.path("title").asText()).isNotBlank();
            assertThat(panel.path("datasource").path("uid").asText()).isEqualTo("${datasource}");
            assertThat(panel.path("targets")).as(panel.path("title").asText()).isNotEmpty();
            for (JsonNode target : panel.path("targets")) {
                assertThat(target.path("expr").asText()).isNotBlank();
            }
        }
        assertThat(graphs).isGreaterThanOrEqualTo(12);
    }

    /**
     * docs/monitoring.md is the alerts' runbook and the metrics' reference: every alert has its
     * section (the anchor its runbook annotation names), every metric named is described, and the
     * picture it shows exists.
     */
    @Test
    void theMonitoringPageHasASectionPerAlertAndDescribesEveryMetricNamed() throws IOException {
        String page = Files.readString(Path.of("docs/monitoring.md"));
        for (String alert : MonitoringRulesTest.alerts()) {
            assertThat(page).as("a section for " + alert).contains("\n### " + alert + "\n");
        }
        Set<String> named = new HashSet<>(ruleMetrics());
        named.addAll(dashboardMetrics());
        for (String metric : named) {
            String family = metric.replaceAll("_(bucket|count|sum)$", "");
            assertThat(page).as("docs/monitoring.md describes " + family).contains("`" + family);
        }
        assertThat(page).contains("](images/monitoring-dashboard.svg)");
        assertThat(Path.of("docs/images/monitoring-dashboard.svg")).isNotEmptyFile();
    }

    /** Metric names the dashboard's queries use (for MonitoringIT's check that each is served). */
    static Set<String> dashboardMetrics() throws IOException {
        Set<String> names = new HashSet<>();
        for (Panel p : panels()) {
            for (Query q : p.queries()) {
                names.addAll(MetricNames.in(q.expr()));
            }
        }
        return names;
    }

    /** Metric names the alerting rules use. */
    static Set<String> ruleMetrics() throws IOException {
        Set<String> names = new HashSet<>();
        for (Map<String, Object> group : list(yaml(MonitoringRulesTest.RULES).get("groups"))) {
            for (Map<String, Object> rule : list(group.get("rules"))) {
                names.addAll(MetricNames.in((String) rule.get("expr")));
            }
        }
        return names;
    }

    record Query(String expr, String legend) {
    }

    record Panel(String title, String unit, List<Query> queries) {
    }

    /** The dashboard's graph panels, in order. */
    static List<Panel> panels() throws IOException {
        JsonNode dashboard = new ObjectMapper().readTree(Files.readString(DASHBOARD));
        List<Panel> panels = new ArrayList<>();
        for (JsonNode panel : dashboard.path("panels")) {
            if (panel.path("type").asText().equals("row")) {
                continue;
            }
            List<Query> queries = new ArrayList<>();
            for (JsonNode target : panel.path("targets")) {
                queries.add(new Query(target.path("expr").asText(), target.path("legendFormat").asText()));
            }
            panels.add(new Panel(panel.path("title").asText(),
                    panel.path("fieldConfig").path("defaults").path("unit").asText(), queries));
        }
        return panels;
    }
}
