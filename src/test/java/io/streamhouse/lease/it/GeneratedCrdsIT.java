package io.streamhouse.lease.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The CRDs in crds/ are committed (users apply them) but generated from the Java classes at
 * build time into target/crds. Runs after packaging: fails when the committed copy is stale.
 */
class GeneratedCrdsIT {

    @Test
    void committedCrdsMatchTheGeneratedOnes() throws IOException {
        Path project = LocalApiServer.projectDir();
        Path generated = project.resolve("target/crds");
        Path committed = project.resolve("crds");
        List<Path> files;
        try (Stream<Path> list = Files.list(generated)) {
            files = list.filter(p -> p.toString().endsWith(".yml")).sorted().toList();
        }
        assertThat(files).as("generated CRDs in %s", generated).hasSize(3);
        for (Path file : files) {
            Path mine = committed.resolve(file.getFileName());
            assertThat(mine).as("crds/%s is missing: cp target/crds/*.yml crds/", file.getFileName()).exists();
            assertThat(Files.readString(mine))
                    .as("crds/%s is stale: the Java classes changed; run `mvn package -DskipTests && cp target/crds/*.yml crds/`",
                            file.getFileName())
                    .isEqualTo(Files.readString(file));
        }
    }
}
