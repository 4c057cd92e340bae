package io.streamhouse.lease.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionVersion;
import io.fabric8.kubernetes.api.model.apiextensions.v1.JSONSchemaProps;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import io.streamhouse.lease.api.v1alpha1.PartitionLease;
import io.streamhouse.lease.api.v1alpha1.PartitionLeaseSpec;
import io.streamhouse.lease.api.v1alpha1.PartitionLeaseStatus;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.api.v1alpha1.StreamAgentSpec;
import io.streamhouse.lease.api.v1alpha1.StreamAgentStatus;
import jakarta.inject.Inject;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Sweeps the defect class "an optional field left unset, or set to its empty value, is refused by
 * a real API server" (the mock accepts anything), derived from the CRDs as shipped in crds/: for
 * every optional property of spec and status, at any depth, an object with it unset and one with
 * it set to its type's empty value ("", 0, false, [], {}) is created (spec) or status-patched
 * (status, the JSON patch the operator sends). The empty value must be accepted exactly when the
 * schema allows it; where the schema documents a bound (minLength, pattern, minimum), the refusal
 * must name the field. Then the resource classes as the operator builds them, with every optional
 * field left unset, go through the operator's own serialisation. CEL rules
 * (x-kubernetes-validations) are not enforced by the local v1.20 server and are not swept here.
 */
@QuarkusTest
@TestProfile(RealApiServerIT.Real.class)
class SchemaSweepIT {

    static final Path CRDS = LocalApiServer.projectDir().resolve("crds");

    /** Values for required fields: the sweep fails, naming the field, when a CRD requires one not here. */
    static final Map<String, Object> REQUIRED_SAMPLES = Map.of(
            "PartitionLease.spec.topic", "sweep-topic",
            "PartitionLease.spec.partition", 0,
            "StreamAgent.spec.agentId", "sweep-agent",
            "StreamTopic.spec.topic", "sweep-stream-topic",
            "StreamTopic.spec.partitions", 1);

    @Inject
    KubernetesClient client;

    String ns;
    final AtomicInteger serial = new AtomicInteger();

    @BeforeEach
    void namespace() {
        ns = RealApiServerIT.freshNamespace(client, "sweep-");
    }

    @AfterEach
    void removeNamespace() {
        client.namespaces().withName(ns).delete(); // its StreamAgents' sessions end with them
    }

    record OptionalProperty(String path, JSONSchemaProps schema) {
    }

    @Test
    void everyOptionalPropertyUnsetOrEmptyIsAcceptedExactlyWhereTheSchemaAllowsIt() throws IOException {
        List<String> checked = new ArrayList<>();
        for (CustomResourceDefinition crd : crds()) {
            String kind = crd.getSpec().getNames().getKind();
            CustomResourceDefinitionVersion version = crd.getSpec().getVersions().stream()
                    .filter(CustomResourceDefinitionVersion::getStorage).findFirst().orElseThrow();
            String apiVersion = crd.getSpec().getGroup() + "/" + version.getName();
            JSONSchemaProps root = version.getSchema().getOpenAPIV3Schema();
            JSONSchemaProps spec = root.getProperties().get("spec");
            JSONSchemaProps status = root.getProperties().get("status");

            // Everything optional unset: the smallest object a user can write, and an empty status.
            GenericKubernetesResource bare = create(apiVersion, kind, minimal(kind + ".spec", spec), null);
            assertThat(bare).as("%s with every optional spec field unset", kind).isNotNull();
            patchStatus(apiVersion, kind, bare, Map.of(), null);

            for (OptionalProperty o : optionals(kind + ".spec", spec)) {
                Object empty = emptyValue(o.schema());
                String refusal = refusal(o.schema(), empty);
                Map<String, Object> body = minimal(kind + ".spec", spec);
                set(body, o.path().substring((kind + ".spec.").length()), empty, kind + ".spec");
                create(apiVersion, kind, body, refusal == null ? null : lastName(o.path()));
                checked.add(o.path() + "=" + describe(empty) + (refusal == null ? " accepted" : " refused (" + refusal + ")"));
            }
            GenericKubernetesResource target = create(apiVersion, kind, minimal(kind + ".spec", spec), null);
            for (OptionalProperty o : optionals(kind + ".status", status)) {
                Object empty = emptyValue(o.schema());
                String refusal = refusal(o.schema(), empty);
                Map<String, Object> body = minimal(kind + ".status", status);
                set(body, o.path().substring((kind + ".status.").length()), empty, kind + ".status");
                patchStatus(apiVersion, kind, target, body, refusal == null ? null : lastName(o.path()));
                checked.add(o.path() + "=" + describe(empty) + (refusal == null ? " accepted" : " refused (" + refusal + ")"));
            }
        }
        System.out.println("schema sweep:\n  " + String.join("\n  ", checked));
        assertThat(checked).as("properties swept").hasSizeGreaterThan(20)
                .anyMatch(c -> c.startsWith("StreamAgent.spec.zone=\"\" accepted"))
                .anyMatch(c -> c.startsWith("StreamAgent.spec.address=\"\" accepted"));
    }

    @Test
    void theResourceClassesAsTheOperatorBuildsThemAreAccepted() {
        // Only the required fields set: every other field keeps its Java default (null or the
        // documented default), serialised as the operator serialises it.
        StreamAgent agent = new StreamAgent();
        agent.getMetadata().setName("java-defaults");
        agent.getMetadata().setNamespace(ns);
        agent.setSpec(new StreamAgentSpec());
        agent.getSpec().setAgentId("java-defaults-" + ns);
        StreamAgent createdAgent = client.resource(agent).create();
        String statusJson = client.getKubernetesSerialization().asJson(new StreamAgentStatus());
        client.resource(createdAgent).subresource("status").patch(PatchContext.of(PatchType.JSON),
                "[{\"op\":\"add\",\"path\":\"/status\",\"value\":" + statusJson + "}]");

        PartitionLease lease = new PartitionLease();
        lease.getMetadata().setName("java-defaults");
        lease.getMetadata().setNamespace(ns);
        lease.setSpec(new PartitionLeaseSpec());
        lease.getSpec().setTopic("java-defaults-" + ns);
        lease.getSpec().setPartition(0);
        PartitionLease createdLease = client.resource(lease).create();
        statusJson = client.getKubernetesSerialization().asJson(new PartitionLeaseStatus());
        client.resource(createdLease).subresource("status").patch(PatchContext.of(PatchType.JSON),
                "[{\"op\":\"add\",\"path\":\"/status\",\"value\":" + statusJson + "}]");
        assertThat(statusJson).doesNotContain("null");

        var topic = new io.streamhouse.lease.api.v1alpha1.StreamTopic();
        topic.getMetadata().setName("java-defaults");
        topic.getMetadata().setNamespace(ns);
        topic.setSpec(new io.streamhouse.lease.api.v1alpha1.StreamTopicSpec());
        topic.getSpec().setTopic("java-defaults-" + ns);
        topic.getSpec().setPartitions(1);
        var createdTopic = client.resource(topic).create();
        statusJson = client.getKubernetesSerialization().asJson(new io.streamhouse.lease.api.v1alpha1.StreamTopicStatus());
        client.resource(createdTopic).subresource("status").patch(PatchContext.of(PatchType.JSON),
                "[{\"op\":\"add\",\"path\":\"/status\",\"value\":" + statusJson + "}]");
        assertThat(statusJson).doesNotContain("null");
    }

    // ------------------------------------------------------------------ schema walking

    static List<CustomResourceDefinition> crds() throws IOException {
        List<CustomResourceDefinition> out = new ArrayList<>();
        try (var files = Files.list(CRDS)) {
            for (Path file : files.filter(f -> f.toString().endsWith(".yml")).sorted().toList()) {
                try (InputStream in = Files.newInputStream(file)) {
                    out.add(new io.fabric8.kubernetes.client.utils.KubernetesSerialization()
                            .unmarshal(in, CustomResourceDefinition.class));
                }
            }
        }
        assertThat(out).hasSize(3);
        return out;
    }

    /** Optional properties under {@code schema}, depth first; array items are walked as element [0]. */
    static List<OptionalProperty> optionals(String path, JSONSchemaProps schema) {
        List<OptionalProperty> out = new ArrayList<>();
        if (schema.getProperties() != null) {
            List<String> required = schema.getRequired() == null ? List.of() : schema.getRequired();
            schema.getProperties().forEach((name, child) -> {
                if (!required.contains(name)) {
                    out.add(new OptionalProperty(path + "." + name, child));
                }
                out.addAll(optionals(path + "." + name, child));
            });
        }
        if (schema.getItems() != null && schema.getItems().getSchema() != null) {
            out.addAll(optionals(path + "[0]", schema.getItems().getSchema()));
        }
        return out;
    }

    /** The object with only its required fields, at every level, from REQUIRED_SAMPLES. */
    static Map<String, Object> minimal(String path, JSONSchemaProps schema) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (String name : schema.getRequired() == null ? List.<String>of() : schema.getRequired()) {
            JSONSchemaProps child = schema.getProperties().get(name);
            String childPath = path + "." + name;
            if ("object".equals(child.getType())) {
                out.put(name, minimal(childPath, child));
            } else {
                Object sample = REQUIRED_SAMPLES.get(childPath.replaceAll("\\[0]", ""));
                assertThat(sample).as("a sample value for required field %s in REQUIRED_SAMPLES", childPath).isNotNull();
                out.put(name, sample);
            }
        }
        return out;
    }

    /** Sets {@code relative} (dots, [0] for an array's first element) in {@code body}, creating what is on the way. */
    @SuppressWarnings("unchecked")
    static void set(Map<String, Object> body, String relative, Object value, String rootPath) {
        String[] parts = relative.split("\\.");
        Map<String, Object> at = body;
        for (int i = 0; i < parts.length - 1; i++) {
            String part = parts[i];
            if (part.endsWith("[0]")) {
                String name = part.substring(0, part.length() - 3);
                List<Object> list = (List<Object>) at.computeIfAbsent(name, k -> new ArrayList<>());
                if (list.isEmpty()) {
                    list.add(new LinkedHashMap<String, Object>());
                }
                at = (Map<String, Object>) list.get(0);
            } else {
                at = (Map<String, Object>) at.computeIfAbsent(part, k -> new LinkedHashMap<String, Object>());
            }
        }
        at.put(parts[parts.length - 1], value);
    }

    static Object emptyValue(JSONSchemaProps schema) {
        String type = schema.getType() == null ? "object" : schema.getType();
        return switch (type) {
            case "string" -> "";
            case "integer", "number" -> 0;
            case "boolean" -> false;
            case "array" -> new ArrayList<>();
            default -> new LinkedHashMap<String, Object>();
        };
    }

    /** Why the schema refuses {@code value}, or null when it allows it. */
    static String refusal(JSONSchemaProps schema, Object value) {
        if (schema.getEnum() != null && !schema.getEnum().isEmpty()
                && schema.getEnum().stream().noneMatch(e -> e.asText().equals(String.valueOf(value)))) {
            return "enum";
        }
        if (value instanceof String s) {
            if (schema.getMinLength() != null && s.length() < schema.getMinLength()) {
                return "minLength " + schema.getMinLength();
            }
            if (schema.getPattern() != null && !Pattern.compile(schema.getPattern()).matcher(s).find()) {
                return "pattern";
            }
        }
        if (value instanceof Integer n && schema.getMinimum() != null && n < schema.getMinimum()) {
            return "minimum " + schema.getMinimum();
        }
        if (value instanceof List<?> l && schema.getMinItems() != null && l.size() < schema.getMinItems()) {
            return "minItems " + schema.getMinItems();
        }
        if (value instanceof Map<?, ?> m && schema.getRequired() != null && !schema.getRequired().isEmpty()) {
            return "required " + schema.getRequired();
        }
        return null;
    }

    static String lastName(String path) {
        return path.substring(path.lastIndexOf('.') + 1);
    }

    static String describe(Object value) {
        return value instanceof String s ? "\"" + s + "\"" : String.valueOf(value);
    }

    // ------------------------------------------------------------------ API calls

    /** Creates the object; {@code refusedField} null means it must be accepted, else refused naming that field. */
    GenericKubernetesResource create(String apiVersion, String kind, Map<String, Object> spec, String refusedField) {
        GenericKubernetesResource r = new GenericKubernetesResource();
        r.setApiVersion(apiVersion);
        r.setKind(kind);
        r.setMetadata(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder()
                .withName(kind.toLowerCase() + "-" + serial.incrementAndGet()).withNamespace(ns).build());
        Map<String, Object> unique = uniqueRequired(kind, spec);
        r.setAdditionalProperty("spec", unique);
        String body = client.getKubernetesSerialization().asJson(r);
        try {
            GenericKubernetesResource created = client.genericKubernetesResources(apiVersion, kind).inNamespace(ns)
                    .resource(r).create();
            assertThat(refusedField).as("the API server accepted %s", body).isNull();
            return created;
        } catch (KubernetesClientException e) {
            assertThat(refusedField).as("the API server refused %s: %s", body, e.getMessage()).isNotNull();
            assertThat(e.getCode()).isEqualTo(422);
            assertThat(e.getMessage()).as("the refusal names the field").contains(refusedField);
            return null;
        }
    }

    void patchStatus(String apiVersion, String kind, GenericKubernetesResource target, Map<String, Object> status,
                     String refusedField) {
        String patch = "[{\"op\":\"add\",\"path\":\"/status\",\"value\":"
                + client.getKubernetesSerialization().asJson(status) + "}]";
        try {
            client.genericKubernetesResources(apiVersion, kind).inNamespace(ns).withName(target.getMetadata().getName())
                    .subresource("status").patch(PatchContext.of(PatchType.JSON), patch);
            assertThat(refusedField).as("the API server accepted the status patch %s", patch).isNull();
        } catch (KubernetesClientException e) {
            assertThat(refusedField).as("the API server refused the status patch %s: %s", patch, e.getMessage()).isNotNull();
            assertThat(e.getCode()).isEqualTo(422);
            assertThat(e.getMessage()).contains(refusedField);
        }
    }

    /** Unique values where uniqueness matters (agent ids and partitions are cluster-wide). */
    Map<String, Object> uniqueRequired(String kind, Map<String, Object> spec) {
        Map<String, Object> out = new LinkedHashMap<>(spec);
        String suffix = "-" + ns + "-" + serial.get();
        if (out.get("agentId") instanceof String id && kind.equals("StreamAgent")) {
            out.put("agentId", id + suffix);
        }
        if (out.get("topic") instanceof String topic && kind.equals("PartitionLease")) {
            out.put("topic", topic + suffix);
        }
        return out;
    }
}
