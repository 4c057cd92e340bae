package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.streamhouse.lease.api.v1alpha1.PartitionLease;
import java.time.Duration;
import io.streamhouse.lease.testing.SettableClock;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Repeated Events are counted on one object (client-go's aggregation); Events not written are counted. */
@EnableKubernetesMockClient(crud = true)
class EventRecorderTest {

    KubernetesClient client;
    final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    final SettableClock clock = new SettableClock(Instant.parse("2026-12-01T10:00:00Z"));
    EventRecorder recorder;

    @BeforeEach
    void recorder() {
        recorder = new EventRecorder(client, clock, new LeaseActivity(), publish(1000, 1000), new OperatorMetrics(registry));
    }

    @AfterEach
    void stop() {
        recorder.stop(null);
    }

    static PublishConfig publish(double perSecond, int burst) {
        return new PublishConfig() {
            @Override
            public double leaseStatusWritesPerSecond() {
                return 100;
            }

            @Override
            public int leaseStatusBurst() {
                return 100;
            }

            @Override
            public Duration leaseStatusPause() {
                return Duration.ofSeconds(1);
            }

            @Override
            public double eventsPerSecond() {
                return perSecond;
            }

            @Override
            public int eventBurst() {
                return burst;
            }
        };
    }

    PartitionLease lease(String name, String uid) {
        PartitionLease lease = Fixtures.lease("ns", name, "orders", 0, "default");
        lease.getMetadata().setUid(uid);
        return lease;
    }

    List<Event> events() {
        return client.v1().events().inNamespace("ns").list().getItems();
    }

    double dropped(String cause) {
        return registry.find("streamhouse.events.dropped").tag("cause", cause).counter().count();
    }

    @Test
    void aRepeatedEventIsCountedOnTheFirstWithItsLastTime() {
        PartitionLease p0 = lease("p0", "uid-0");
        recorder.warning(p0, "NoEligibleAgent", "no agent of group default is Ready");
        await().atMost(Duration.ofSeconds(10)).until(() -> events().size() == 1);

        clock.set(Instant.parse("2026-12-01T10:05:00Z"));
        recorder.warning(p0, "NoEligibleAgent", "no agent of group default is Ready");
        recorder.warning(p0, "NoEligibleAgent", "no agent of group default is Ready");

        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            List<Event> events = events();
            assertThat(events).hasSize(1);
            Event e = events.get(0);
            assertThat(e.getCount()).isEqualTo(3);
            assertThat(e.getFirstTimestamp()).isEqualTo("2026-12-01T10:00:00Z");
            assertThat(e.getLastTimestamp()).isEqualTo("2026-12-01T10:05:00Z");
        });
    }

    @Test
    void anotherMessageReasonTypeOrObjectIsAnotherEvent() {
        recorder.warning(lease("p0", "uid-0"), "NoEligibleAgent", "no agent of group default is Ready");
        recorder.warning(lease("p0", "uid-0"), "NoEligibleAgent", "no agent of group other is Ready");
        recorder.warning(lease("p0", "uid-0"), "SpecImmutable", "no agent of group default is Ready");
        recorder.normal(lease("p0", "uid-0"), "NoEligibleAgent", "no agent of group default is Ready");
        recorder.warning(lease("p1", "uid-1"), "NoEligibleAgent", "no agent of group default is Ready");
        recorder.warning(lease("p0", "uid-2"), "NoEligibleAgent", "no agent of group default is Ready"); // p0 recreated

        await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                assertThat(events()).hasSize(6).allMatch(e -> e.getCount() == 1));
    }

    @Test
    void anEventThatExpiredIsWrittenAgain() {
        PartitionLease p0 = lease("p0", "uid-0");
        recorder.warning(p0, "NoEligibleAgent", "none Ready");
        await().atMost(Duration.ofSeconds(10)).until(() -> events().size() == 1);
        client.v1().events().inNamespace("ns").delete(); // the API server's Event TTL ran out

        recorder.warning(p0, "NoEligibleAgent", "none Ready");

        await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                assertThat(events()).singleElement().satisfies(e -> assertThat(e.getCount()).isEqualTo(1)));
        assertThat(dropped("error")).isZero();
    }

    @Test
    void eventsOverTheBudgetAreDroppedAndCounted() {
        recorder.stop(null);
        recorder = new EventRecorder(client, clock, new LeaseActivity(), publish(0.001, 2), new OperatorMetrics(registry));
        for (int i = 0; i < 5; i++) {
            recorder.warning(lease("p" + i, "uid-" + i), "NoEligibleAgent", "none Ready");
        }

        await().atMost(Duration.ofSeconds(10)).until(() -> events().size() == 2);
        assertThat(dropped("budget")).isEqualTo(3);
        assertThat(dropped("queue")).isZero();
    }
}
