package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.smallrye.config.ConfigMapping;
import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The README's "Configuration" table lists every setting the operator reads, with the environment
 * variable that sets it: each key of every {@code @ConfigMapping} and {@code @ConfigProperty}
 * under src/main, found here rather than listed by hand, so a new one cannot be left out.
 */
class ConfigurationTableTest {

    static final List<Class<?>> MAPPINGS = List.of(DatabaseConfig.class, AgentConfig.class, AssignConfig.class,
            PublishConfig.class, LeaderElectionConfig.class);

    @Test
    void everySettingIsInTheReadmeTableWithItsEnvironmentVariable() throws IOException {
        List<String> keys = new ArrayList<>();
        for (Class<?> mapping : MAPPINGS) {
            keys(mapping.getAnnotation(ConfigMapping.class).prefix(), mapping, keys);
        }
        keys.addAll(configProperties());
        assertThat(keys).contains("streamhouse.db.migration.user", "streamhouse.leader-election.lease-duration",
                "streamhouse.cluster-check.enabled");

        String readme = Files.readString(Path.of("README.md"));
        String section = readme.substring(readme.indexOf("## Configuration\n"), readme.indexOf("## The agent protocol in SQL"));
        for (String key : keys) {
            String env = key.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_');
            assertThat(section).as("README Configuration lists %s", key).contains("| `" + key + "` | `" + env + "` |");
        }
        assertThat(mappingsUnderSrcMain()).as("every @ConfigMapping is in MAPPINGS")
                .containsExactlyInAnyOrderElementsOf(MAPPINGS.stream().map(Class::getSimpleName).toList());
    }

    /** The keys of a mapping: one per method, nested groups (interfaces) recursively. */
    static void keys(String prefix, Class<?> type, List<String> out) {
        for (Method m : type.getDeclaredMethods()) {
            if (Modifier.isStatic(m.getModifiers()) || m.isDefault() || m.getParameterCount() > 0) {
                continue;
            }
            String key = prefix + "." + kebab(m.getName());
            if (m.getReturnType().isInterface() && m.getReturnType().getName().startsWith("io.streamhouse")) {
                keys(key, m.getReturnType(), out);
            } else {
                out.add(key);
            }
        }
    }

    static String kebab(String camel) {
        return camel.replaceAll("([a-z0-9])([A-Z])", "$1-$2").toLowerCase(Locale.ROOT);
    }

    static List<String> configProperties() throws IOException {
        List<String> keys = new ArrayList<>();
        Pattern property = Pattern.compile("@ConfigProperty\\(name = \"(streamhouse\\.[^\"]+)\"");
        for (Path file : javaSources()) {
            Matcher m = property.matcher(Files.readString(file));
            while (m.find()) {
                keys.add(m.group(1));
            }
        }
        return keys;
    }

    static List<String> mappingsUnderSrcMain() throws IOException {
        List<String> names = new ArrayList<>();
        for (Path file : javaSources()) {
            if (Files.readString(file).contains("@ConfigMapping(prefix")) {
                names.add(file.getFileName().toString().replace(".java", ""));
            }
        }
        return names;
    }

    static List<Path> javaSources() throws IOException {
        try (Stream<Path> files = Files.walk(Path.of("src/main/java"))) {
            return files.filter(f -> f.toString().endsWith(".java")).toList();
        }
    }
}
