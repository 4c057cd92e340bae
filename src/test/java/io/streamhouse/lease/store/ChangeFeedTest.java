package io.streamhouse.lease.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariDataSource;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.testing.RecordingListener;
import io.streamhouse.lease.testing.TestDatabases;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The change feed on a real PostgreSQL: what it reports, what it keeps quiet about, and reconnects. */
class ChangeFeedTest {

    static HikariDataSource dataSource;
    static PostgresLeaseStore store;
    static final RecordingListener recorded = new RecordingListener();
    static final List<ChangeFeed.LeaseChange> leases = recorded.leases;
    static final List<AgentId> sessions = recorded.sessions;
    static final AtomicInteger resyncs = recorded.resyncs;
    /** Everything reported, in order (see {@link RecordingListener}). */
    static final List<String> reports = recorded.reports;
    static ChangeFeed feed;

    @BeforeAll
    static void start() {
        dataSource = TestDatabases.fresh("feed", 4);
        store = new PostgresLeaseStore(dataSource);
        feed = ChangeFeed.start(dataSource, recorded);
        await().atMost(Duration.ofSeconds(10)).until(feed::connected);
    }

    @AfterAll
    static void stop() {
        feed.close();
        dataSource.close();
    }

    static AgentRegistration agent(String id) {
        return new AgentRegistration(AgentId.of(id), "g", "z", "", Duration.ofSeconds(30));
    }

    @Test
    void reportsEveryChangeOfHolderAndSessionButNoRenewal() {
        Session a = store.register(agent("feed-a"));
        LeaseKey key = LeaseKey.of("feed-topic", 0);
        store.acquire(AcquireRequest.ifFree(key, a.agent(), a.sessionEpoch()), "Assigned");
        store.renew(a.agent(), a.sessionEpoch());
        store.renew(a.agent(), a.sessionEpoch());
        store.release(key, a.agent(), a.sessionEpoch(), 1, "Released");
        store.expire(a.agent(), a.sessionEpoch());
        Session b = store.register(agent("feed-b"));

        await().atMost(Duration.ofSeconds(10)).until(() -> sessions.contains(b.agent()));
        await().atMost(Duration.ofSeconds(10)).until(() -> leases.size() >= 2);
        assertThat(leases).filteredOn(c -> c.key().equals(key)).containsExactly(
                new ChangeFeed.LeaseChange(key, 1, a.agent(), null),
                new ChangeFeed.LeaseChange(key, 1, null, a.agent()));
        assertThat(sessions).filteredOn(id -> id.equals(a.agent()) || id.equals(b.agent()))
                .as("register, expire, register; renewals say nothing")
                .containsExactly(a.agent(), a.agent(), b.agent());
    }

    /**
     * A graceful stop is one transaction: its session end and its releases arrive as one batch,
     * the end first, with the epoch that ended, so that a listener acting at the end of the
     * batch never plans a released lease back onto the agent that left.
     */
    @Test
    void aGracefulStopIsReportedAsOneBatchThatSaysWhichSessionEnded() {
        Session leaver = store.register(agent("feed-leaver"));
        List<LeaseKey> keys = List.of(LeaseKey.of("feed-stop", 0), LeaseKey.of("feed-stop", 1), LeaseKey.of("feed-stop", 2));
        store.acquireAll(keys.stream().map(k -> AcquireRequest.ifFree(k, leaver.agent(), leaver.sessionEpoch())).toList(),
                "Assigned");
        await().atMost(Duration.ofSeconds(10)).until(() -> reports.contains("lease feed-stop/2 " + leaver.agent()));
        assertThat(reports).as("a session that starts is not reported ended").noneMatch(r -> r.startsWith("ended " + leaver.agent()));

        store.shutdown(leaver.agent(), leaver.sessionEpoch(), "Shutdown");

        String ended = "ended " + leaver.agent() + " " + leaver.sessionEpoch();
        await().atMost(Duration.ofSeconds(10)).until(() -> reports.contains("lease feed-stop/2 null"));
        List<String> fromEnd = reports.subList(reports.indexOf(ended), reports.size());
        List<String> batch = fromEnd.subList(0, fromEnd.indexOf("|"));
        assertThat(batch).as("one batch, the session's end first").containsExactlyInAnyOrder(ended, "session " + leaver.agent(),
                "lease feed-stop/0 null", "lease feed-stop/1 null", "lease feed-stop/2 null");
        assertThat(batch.get(0)).isEqualTo(ended);
    }

    @Test
    void reconnectsAfterItsConnectionIsKilledAndSaysSo() throws SQLException {
        int before = resyncs.get();
        try (Connection c = dataSource.getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                     + " WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()")) {
            assertThat(rs.next()).as("the feed's connection was found").isTrue();
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> resyncs.get() > before && feed.connected());

        Session c = store.register(agent("feed-c"));
        await().atMost(Duration.ofSeconds(10)).until(() -> sessions.contains(c.agent()));
    }

    @Test
    void parsesPayloadsAndRefusesOddOnes() {
        assertThat(ChangeFeed.parse("my.topic/12 7 agent-1 agent-0")).isEqualTo(new ChangeFeed.LeaseChange(
                LeaseKey.of("my.topic", 12), 7, AgentId.of("agent-1"), AgentId.of("agent-0")));
        assertThat(ChangeFeed.parse("t/0 3  agent-0"))
                .isEqualTo(new ChangeFeed.LeaseChange(LeaseKey.of("t", 0), 3, null, AgentId.of("agent-0")));
        assertThat(ChangeFeed.parse("t/0 3 agent-1 ")).as("no previous holder")
                .isEqualTo(new ChangeFeed.LeaseChange(LeaseKey.of("t", 0), 3, AgentId.of("agent-1"), null));
        assertThat(ChangeFeed.parse("my.topic/12 7 agent-1")).as("a V2 payload")
                .isEqualTo(new ChangeFeed.LeaseChange(LeaseKey.of("my.topic", 12), 7, AgentId.of("agent-1"), null));
        assertThatThrownBy(() -> ChangeFeed.parse("t/0 3")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("expected 'topic/partition epoch holder previous'");
        assertThatThrownBy(() -> ChangeFeed.parse("t 3 a")).isInstanceOf(IllegalArgumentException.class);
    }
}
