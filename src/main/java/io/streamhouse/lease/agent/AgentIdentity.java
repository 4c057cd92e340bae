package io.streamhouse.lease.agent;

import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.model.AgentId;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * Which StreamAgent this process is: its namespace and name (the pod's, for a pod agent), and
 * optionally the agent id it expects that StreamAgent to carry. Group, zone, address and session
 * timeout are read from the StreamAgent itself at start, so that the operator (which derives them
 * from the pod's annotations and node) and the agent never disagree.
 *
 * @param agentId null to take whatever id the StreamAgent has
 */
public record AgentIdentity(String namespace, String streamAgent, AgentId agentId) {

    /** Downward API {@code metadata.namespace}. */
    public static final String NAMESPACE_ENV = "POD_NAMESPACE";
    /** Downward API {@code metadata.name}. */
    public static final String NAME_ENV = "POD_NAME";
    /** Downward API {@code metadata.annotations['streamhouse.io/agent-id']} (optional). */
    public static final String AGENT_ID_ENV = "STREAMHOUSE_AGENT_ID";
    /** Directory of a Downward API volume holding an {@code annotations} file (optional, instead of the above). */
    public static final String PODINFO_ENV = "STREAMHOUSE_PODINFO_DIR";

    private static final Pattern DNS_NAME = Pattern.compile("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?");

    public AgentIdentity {
        Objects.requireNonNull(namespace, "namespace");
        Objects.requireNonNull(streamAgent, "streamAgent");
        if (!DNS_NAME.matcher(namespace).matches()) {
            throw new IllegalArgumentException("namespace must be a DNS name, got '" + namespace + "'");
        }
        if (!DNS_NAME.matcher(streamAgent).matches()) {
            throw new IllegalArgumentException("StreamAgent name must be a DNS name, got '" + streamAgent + "'");
        }
    }

    public static AgentIdentity of(String namespace, String streamAgent) {
        return new AgentIdentity(namespace, streamAgent, null);
    }

    /** From this process's environment (see the {@code *_ENV} constants). */
    public static AgentIdentity fromEnvironment() {
        return fromEnvironment(System.getenv());
    }

    /** From {@code env} as a container would see it (for launchers and tests that build one). */
    public static AgentIdentity fromEnvironment(Map<String, String> env) {
        String namespace = env.get(NAMESPACE_ENV);
        String name = env.get(NAME_ENV);
        String id = env.get(AGENT_ID_ENV);
        String podinfo = env.get(PODINFO_ENV);
        if (id == null && podinfo != null) {
            Path file = Path.of(podinfo, "annotations");
            try {
                id = downwardApiAnnotations(Files.readString(file)).get(StreamAgent.AGENT_ID_ANNOTATION);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read Downward API annotations from " + file, e);
            }
        }
        if (namespace == null || name == null) {
            throw new IllegalArgumentException("agent identity: set " + NAMESPACE_ENV + " and " + NAME_ENV
                    + " (Downward API fieldRef metadata.namespace and metadata.name); missing "
                    + (namespace == null ? NAMESPACE_ENV : NAME_ENV));
        }
        return new AgentIdentity(namespace, name, id == null || id.isBlank() ? null : AgentId.of(id.trim()));
    }

    /**
     * Parses a Downward API annotations file: one {@code key="value"} per line, the value quoted
     * the way Go quotes strings.
     */
    static Map<String, String> downwardApiAnnotations(String text) {
        Map<String, String> out = new HashMap<>();
        for (String line : text.split("\n")) {
            int eq = line.indexOf('=');
            if (eq <= 0) {
                continue;
            }
            String value = line.substring(eq + 1).trim();
            if (value.length() >= 2 && value.startsWith("\"") && value.endsWith("\"")) {
                value = unquote(value.substring(1, value.length() - 1));
            }
            out.put(line.substring(0, eq).trim(), value);
        }
        return out;
    }

    private static String unquote(String s) {
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c != '\\' || i + 1 == s.length()) {
                out.append(c);
                continue;
            }
            char next = s.charAt(++i);
            switch (next) {
                case 'n' -> out.append('\n');
                case 't' -> out.append('\t');
                case 'r' -> out.append('\r');
                case 'u' -> {
                    if (i + 4 < s.length()) {
                        out.append((char) Integer.parseInt(s.substring(i + 1, i + 5), 16));
                        i += 4;
                    }
                }
                default -> out.append(next); // \" and \\
            }
        }
        return out.toString();
    }

    @Override
    public String toString() {
        return namespace + "/" + streamAgent + (agentId == null ? "" : " (agent id " + agentId + ")");
    }
}
