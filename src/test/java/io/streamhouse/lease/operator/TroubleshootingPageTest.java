package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

/** docs/troubleshooting.md covers every reason the operator can put in a condition or an Event. */
class TroubleshootingPageTest {

    @org.junit.jupiter.api.Test
    void everyReasonIsOnThePage() throws IOException, IllegalAccessException {
        String page = Files.readString(Path.of("docs/troubleshooting.md"));
        Set<String> conditionTypes = Set.of(Conditions.HELD, Conditions.READY);
        int reasons = 0;
        for (Field f : Conditions.class.getFields()) {
            if (Modifier.isStatic(f.getModifiers()) && f.getType() == String.class) {
                String reason = (String) f.get(null);
                if (!conditionTypes.contains(reason)) {
                    assertThat(page).as("docs/troubleshooting.md explains " + reason).contains("`" + reason + "`");
                    reasons++;
                }
            }
        }
        assertThat(reasons).isGreaterThanOrEqualTo(15);
        for (String section : new String[] {"NoEligibleAgent", "SessionExpired", "WaitingForHolder", "DuplicatePartition",
            "InvalidSpec", "SpecImmutable", "StoreUnavailable", "Draining", "PodNotReady", "NoSession", "DuplicateAgentId"}) {
            assertThat(page).as("a section for " + section).contains("\n## " + section + "\n");
        }
    }
}
