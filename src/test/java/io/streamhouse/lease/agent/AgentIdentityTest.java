package io.streamhouse.lease.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.streamhouse.lease.model.AgentId;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AgentIdentityTest {

    @Test
    void fromDownwardApiEnvironment() {
        AgentIdentity id = AgentIdentity.fromEnvironment(Map.of("POD_NAMESPACE", "streamhouse", "POD_NAME", "agent-7c9f",
                "STREAMHOUSE_AGENT_ID", "agent-a"));
        assertThat(id).isEqualTo(new AgentIdentity("streamhouse", "agent-7c9f", AgentId.of("agent-a")));
        assertThat(AgentIdentity.fromEnvironment(Map.of("POD_NAMESPACE", "ns", "POD_NAME", "p")).agentId()).isNull();
    }

    @Test
    void fromADownwardApiAnnotationsFile(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("annotations"), """
                kubernetes.io/config.seen="2026-11-27T10:00:00.000000000Z"
                streamhouse.io/agent-group="default"
                streamhouse.io/agent-id="agent-\\"q\\"-1"
                """);
        Map<String, String> env = Map.of("POD_NAMESPACE", "ns", "POD_NAME", "p", "STREAMHOUSE_PODINFO_DIR", dir.toString());
        assertThatThrownBy(() -> AgentIdentity.fromEnvironment(env)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("agent"); // quotes are not allowed in an agent id: refused, not mangled
        Files.writeString(dir.resolve("annotations"), "streamhouse.io/agent-id=\"agent-b\"\n");
        assertThat(AgentIdentity.fromEnvironment(env).agentId()).isEqualTo(AgentId.of("agent-b"));
        assertThat(AgentIdentity.downwardApiAnnotations("a=\"x\\\\y\\n\"\nb=\"\\u00e9\"\n"))
                .containsEntry("a", "x\\y\n").containsEntry("b", "é");
    }

    @Test
    void saysWhatIsMissing() {
        assertThatThrownBy(() -> AgentIdentity.fromEnvironment(Map.of("POD_NAME", "p")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("missing POD_NAMESPACE");
        assertThatThrownBy(() -> AgentIdentity.of("Bad_NS", "p")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("namespace must be a DNS name");
    }
}
