package io.streamhouse.lease.store;

import static io.streamhouse.lease.testing.Eventually.eventually;
import static io.streamhouse.lease.testing.Registrations.registration;
import static org.assertj.core.api.Assertions.assertThat;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.testing.StoreDatabase;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;

/**
 * What an agent learns from the database (V5__agent_channel.sql), on a real PostgreSQL: its own
 * channel, the question it asks (lease_assignments), and handoff requests.
 */
class AgentChannelTest {

    @RegisterExtension
    static final StoreDatabase db = new StoreDatabase("channel", 6);

    final LeaseKey key = LeaseKey.of("orders", 0);

    PostgresLeaseStore store() {
        return db.store();
    }

    /** A raw LISTEN connection on an agent's channel, as an agent in any language opens one. */
    final class Listening implements AutoCloseable {
        final Connection connection;
        final PGConnection pg;

        Listening(AgentId agent) throws SQLException {
            connection = db.dataSource().getConnection();
            connection.setAutoCommit(true);
            try (Statement s = connection.createStatement()) {
                s.execute("LISTEN " + ChangeFeed.agentChannel(connection, agent));
            }
            pg = connection.unwrap(PGConnection.class);
        }

        /** Notifications received so far (waits briefly: they arrive at commit). */
        List<PGNotification> drain() throws SQLException {
            List<PGNotification> all = new ArrayList<>();
            PGNotification[] got;
            while ((got = pg.getNotifications(200)) != null && got.length > 0) {
                all.addAll(List.of(got));
            }
            return all;
        }

        @Override
        public void close() throws SQLException {
            try (Statement s = connection.createStatement()) {
                s.execute("UNLISTEN *"); // back to the pool listening to nothing
            }
            connection.close();
        }
    }

    @Test
    void anAgentIsNotifiedOnItsOwnChannelOncePerTransactionWithAnEmptyPayload() throws SQLException {
        Session a = store().register(registration("agent-a"));
        Session b = store().register(registration("agent-b"));
        try (Listening aHears = new Listening(a.agent()); Listening bHears = new Listening(b.agent())) {
            List<AcquireRequest> many = new ArrayList<>();
            for (int p = 0; p < 50; p++) {
                many.add(AcquireRequest.ifFree(LeaseKey.of("orders", p), a.agent(), a.sessionEpoch()));
            }
            store().acquireAll(many, "Assigned");

            List<PGNotification> heard = aHears.drain();
            assertThat(heard).as("50 leases in one transaction wake the agent once").hasSize(1);
            assertThat(heard.get(0).getParameter()).as("a hint, never the news").isEmpty();
            assertThat(bHears.drain()).as("another agent's leases are not b's traffic").isEmpty();

            // A move notifies both ends; a release notifies the one it left.
            store().acquire(AcquireRequest.takeOver(key, b.agent(), b.sessionEpoch(), a.agent(), 1), "Moved");
            assertThat(aHears.drain()).hasSize(1);
            assertThat(bHears.drain()).hasSize(1);
            store().release(key, b.agent(), b.sessionEpoch(), 2, "Released");
            assertThat(bHears.drain()).hasSize(1);
            assertThat(aHears.drain()).isEmpty();

            // Renewals say nothing: an idle agent costs no notifications.
            store().renew(a.agent(), a.sessionEpoch());
            assertThat(aHears.drain()).isEmpty();
        }
    }

    @Test
    void theChannelNameFitsPostgresLimitsForTheLongestAgentId() throws SQLException {
        AgentId longest = AgentId.of("a".repeat(63));
        try (Connection c = db.dataSource().getConnection()) {
            String channel = ChangeFeed.agentChannel(c, longest);
            assertThat(channel).matches("streamhouse_agent_[0-9a-f]{32}").hasSizeLessThan(64);
            assertThat(ChangeFeed.agentChannel(c, AgentId.of("b"))).isNotEqualTo(channel);
        }
    }

    @Test
    void assignmentsAreWhatThisIncarnationHoldsAndNothingOnceItIsGone() {
        Session a = store().register(registration("agent-a"));
        store().acquire(AcquireRequest.ifFree(key, a.agent(), a.sessionEpoch()), "Assigned");
        store().acquire(AcquireRequest.ifFree(LeaseKey.of("orders", 1), a.agent(), a.sessionEpoch()), "Assigned");

        assertThat(store().assignments(a.agent(), a.sessionEpoch())).containsExactly(
                new Assignment(key, 1, null), new Assignment(LeaseKey.of("orders", 1), 1, null));

        Session again = store().register(registration("agent-a")); // a newer incarnation of the same id
        assertThat(store().assignments(a.agent(), a.sessionEpoch())).as("superseded").isEmpty();
        assertThat(store().assignments(a.agent(), again.sessionEpoch()))
                .as("the old incarnation's leases are not the new one's until reacquired").isEmpty();
        store().expire(again.agent(), again.sessionEpoch());
        assertThat(store().assignments(again.agent(), again.sessionEpoch())).as("ended").isEmpty();
    }

    @Test
    void aHandoffRequestReachesOnlyTheIncarnationAndEpochItWasMadeOfAndEndsWithAChangeOfHolder() throws SQLException {
        Session a = store().register(registration("agent-a"));
        Session b = store().register(registration("agent-b"));
        store().acquire(AcquireRequest.ifFree(key, a.agent(), a.sessionEpoch()), "Assigned");
        try (Listening aHears = new Listening(a.agent())) {
            assertThat(store().requestHandoff(key, a.agent(), a.sessionEpoch(), 2, b.agent()))
                    .as("not held at epoch 2").isFalse();
            assertThat(store().requestHandoff(key, b.agent(), b.sessionEpoch(), 1, a.agent()))
                    .as("b does not hold it").isFalse();
            assertThat(aHears.drain()).isEmpty();

            assertThat(store().requestHandoff(key, a.agent(), a.sessionEpoch(), 1, b.agent())).isTrue();
            assertThat(aHears.drain()).hasSize(1);
            assertThat(store().assignments(a.agent(), a.sessionEpoch())).containsExactly(new Assignment(key, 1, b.agent()));
            assertThat(store().requestHandoff(key, a.agent(), a.sessionEpoch(), 1, b.agent())).isTrue();
            assertThat(aHears.drain()).as("asking again is free: no second wake-up").isEmpty();

            store().release(key, a.agent(), a.sessionEpoch(), 1, "HandedOff");
            store().acquire(AcquireRequest.ifFree(key, a.agent(), a.sessionEpoch()), "Assigned"); // back to a, epoch 2
            assertThat(store().assignments(a.agent(), a.sessionEpoch()))
                    .as("the request ended with the change of holder").containsExactly(new Assignment(key, 2, null));
        }
    }

    @Test
    void aCancelledHandoffIsNoLongerAsked() {
        Session a = store().register(registration("agent-a"));
        Session b = store().register(registration("agent-b"));
        store().acquire(AcquireRequest.ifFree(key, a.agent(), a.sessionEpoch()), "Assigned");
        store().requestHandoff(key, a.agent(), a.sessionEpoch(), 1, b.agent());

        assertThat(store().cancelHandoff(key)).isTrue();
        assertThat(store().cancelHandoff(key)).isFalse();
        assertThat(store().assignments(a.agent(), a.sessionEpoch())).containsExactly(new Assignment(key, 1, null));
    }

    @Test
    void theAgentFeedLooksOnConnectAndOnEveryNotificationOfItsOwnAndGivesItsConnectionBackClean() throws SQLException {
        Session a = store().register(registration("agent-a"));
        Session b = store().register(registration("agent-b"));
        AtomicInteger looks = new AtomicInteger();
        try (ChangeFeed feed = ChangeFeed.forAgent(db.dataSource(), a.agent(), looks::incrementAndGet)) {
            eventually().until(() -> feed.connected() && looks.get() == 1); // the look after connecting
            store().acquire(AcquireRequest.ifFree(key, b.agent(), b.sessionEpoch()), "Assigned");
            store().acquire(AcquireRequest.ifFree(LeaseKey.of("orders", 1), a.agent(), a.sessionEpoch()), "Assigned");
            eventually().until(() -> looks.get() >= 2);
            store().requestHandoff(LeaseKey.of("orders", 1), a.agent(), a.sessionEpoch(), 1, b.agent());
            eventually().until(() -> looks.get() >= 3);
            // Notifications arrive in commit order: by the time a's last one is counted, b's (sent
            // before) would have been too.
            assertThat(looks).as("b's lease woke a").hasValue(3);
        }
        // Its connection went back to the pool listening to nothing: else the driver would buffer
        // every later notification, without bound, for whoever borrows it next.
        List<Connection> all = new ArrayList<>();
        try {
            for (int i = 0; i < db.dataSource().getMaximumPoolSize(); i++) {
                Connection c = db.dataSource().getConnection();
                all.add(c);
                try (Statement s = c.createStatement(); var rs = s.executeQuery("SELECT count(*) FROM pg_listening_channels()")) {
                    rs.next();
                    assertThat(rs.getInt(1)).as("channels a pooled connection still listens on").isZero();
                }
            }
        } finally {
            for (Connection c : all) {
                c.close();
            }
        }
    }
}
