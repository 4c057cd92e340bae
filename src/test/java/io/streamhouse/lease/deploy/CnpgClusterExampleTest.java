package io.streamhouse.lease.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The HA PostgreSQL example (deploy/examples/postgres-ha-cloudnativepg.yaml) against
 * CloudNativePG's own Cluster schema (generated from its 1.29.0 CRD, installed from npm by
 * hack/cnpg-schema/install.sh; the CloudNativePG operator itself cannot run here), and the
 * settings fencing relies on, read back, since a schema lets a misspelled key through.
 */
class CnpgClusterExampleTest {

    static final Path EXAMPLE = Path.of("deploy/examples/postgres-ha-cloudnativepg.yaml");
    static Path validator;

    @BeforeAll
    static void install() throws Exception {
        Result r = run(List.of("bash", "hack/cnpg-schema/install.sh"));
        assertThat(r.code).as("hack/cnpg-schema/install.sh: %s", r.output).isZero();
        String[] lines = r.output.strip().split("\n");
        validator = Path.of(lines[lines.length - 1].strip(), "validate.mjs");
        assertThat(validator).exists();
    }

    @Test
    void theExampleIsAValidCluster() throws Exception {
        Result r = validate(EXAMPLE);
        assertThat(r.code).as(r.output).isZero();
        assertThat(r.output).contains("VALID " + EXAMPLE + " streamhouse-db");
    }

    /** The validator must be able to say no, or the test above proves nothing. */
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "method: any              |method: all",
        "dataDurability: required |dataDurability: sometimes",
        "instances: 3             |instances: \"3\"",
        "size: 10Gi               |size: 10",
    })
    void aBrokenCopyIsRefused(String from, String to, @TempDir Path dir) throws Exception {
        String text = Files.readString(EXAMPLE);
        assertThat(text).contains(from.strip());
        Path broken = dir.resolve("broken.yaml");
        Files.writeString(broken, text.replace(from.strip(), to.strip()));
        Result r = validate(broken);
        assertThat(r.code).as(r.output).isEqualTo(1);
        assertThat(r.output).contains("INVALID");
    }

    @Test
    void itAsksForWhatFencingNeeds() throws IOException {
        GenericKubernetesResource cluster = Serialization.unmarshal(Files.readString(EXAMPLE), GenericKubernetesResource.class);
        assertThat(cluster.getApiVersion()).isEqualTo("postgresql.cnpg.io/v1");
        assertThat(cluster.getKind()).isEqualTo("Cluster");
        Map<String, Object> spec = map(cluster.getAdditionalProperties().get("spec"));
        assertThat(spec.get("instances")).isEqualTo(3);
        Map<String, Object> postgresql = map(spec.get("postgresql"));
        // A synchronous standby must acknowledge every commit, with no fallback to the primary alone.
        assertThat(map(postgresql.get("synchronous"))).containsEntry("method", "any").containsEntry("number", 1)
                .containsEntry("dataDurability", "required").containsEntry("failoverQuorum", true);
        assertThat(map(postgresql.get("parameters"))).containsEntry("fsync", "on").containsEntry("full_page_writes", "on")
                .containsEntry("synchronous_commit", "on");
        String text = Files.readString(EXAMPLE);
        assertThat(text).contains("EXAMPLE").contains("streamhouse-db-rw");
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> map(Object o) {
        assertThat(o).isInstanceOf(Map.class);
        return (Map<String, Object>) o;
    }

    static Result validate(Path file) throws Exception {
        return run(List.of("node", validator.toString(), file.toString()));
    }

    record Result(int code, String output) {
    }

    static Result run(List<String> command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        assertThat(p.waitFor(300, TimeUnit.SECONDS)).as("%s finished", command).isTrue();
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }
}
