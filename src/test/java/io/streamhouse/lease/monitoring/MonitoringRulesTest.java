package io.streamhouse.lease.monitoring;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The shipped alerting rules (deploy/monitoring/rules.yaml) with the real tool: `promtool check
 * rules`, and `promtool test rules` on tests/rules-test.yaml, where every alert must have a case
 * that fires and a case that stays quiet. promtool comes from Debian's prometheus package,
 * installed by hack/monitoring/install-prometheus.sh; skipped with one line where it cannot be.
 */
class MonitoringRulesTest {

    static final Path RULES = Path.of("deploy/monitoring/rules.yaml");
    static final Path TESTS = Path.of("deploy/monitoring/tests/rules-test.yaml");

    @BeforeAll
    static void promtool() throws Exception {
        Result install = run("bash", "hack/monitoring/install-prometheus.sh");
        Assumptions.assumeTrue(install.code() == 0, "promtool cannot be installed here (needs root and apt-get):"
                + " the alerting rules are not checked");
    }

    @Test
    void promtoolAcceptsTheRules() throws Exception {
        Result check = run("promtool", "check", "rules", RULES.toString());
        assertThat(check.code()).as(check.output()).isZero();
        assertThat(check.output()).contains("SUCCESS: " + alerts().size() + " rules found");
    }

    @Test
    void everyAlertFiresInItsTestAndStaysQuietJustShortOfIt() throws Exception {
        Result test = run("promtool", "test", "rules", TESTS.toString());
        assertThat(test.code()).as(test.output()).isZero();

        Set<String> fires = new HashSet<>();
        Set<String> quiet = new HashSet<>();
        for (Map<String, Object> t : list(yaml(TESTS).get("tests"))) {
            for (Map<String, Object> a : list(t.get("alert_rule_test"))) {
                String name = (String) a.get("alertname");
                (list(a.get("exp_alerts")).isEmpty() ? quiet : fires).add(name);
            }
        }
        assertThat(fires).as("alerts with a firing case").containsExactlyInAnyOrderElementsOf(alerts());
        assertThat(quiet).as("alerts with a quiet case").containsExactlyInAnyOrderElementsOf(alerts());
    }

    @Test
    void everyAlertHasASeverityASummaryAndARunbook() throws IOException {
        for (Map<String, Object> group : list(yaml(RULES).get("groups"))) {
            for (Map<String, Object> rule : list(group.get("rules"))) {
                @SuppressWarnings("unchecked")
                Map<String, String> labels = (Map<String, String>) rule.get("labels");
                @SuppressWarnings("unchecked")
                Map<String, String> annotations = (Map<String, String>) rule.get("annotations");
                assertThat(labels.get("severity")).as(rule.get("alert") + " severity").isIn("warning", "critical");
                assertThat(annotations).as(rule.get("alert") + " annotations").containsKeys("summary", "runbook");
                assertThat(annotations.get("runbook")).isEqualTo("docs/monitoring.md#"
                        + ((String) rule.get("alert")).toLowerCase(java.util.Locale.ROOT));
            }
        }
    }

    static List<String> alerts() throws IOException {
        List<String> names = new ArrayList<>();
        for (Map<String, Object> group : list(yaml(RULES).get("groups"))) {
            for (Map<String, Object> rule : list(group.get("rules"))) {
                names.add((String) rule.get("alert"));
            }
        }
        return names;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> yaml(Path file) throws IOException {
        return new KubernetesSerialization().unmarshal(Files.readString(file), Map.class);
    }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> list(Object value) {
        return value == null ? List.of() : (List<Map<String, Object>>) value;
    }

    record Result(int code, String output) {
    }

    static Result run(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(5, TimeUnit.MINUTES)).as(String.join(" ", command)).isTrue();
        return new Result(p.exitValue(), out);
    }
}
