package io.streamhouse.lease.store;

import static io.streamhouse.lease.store.AcquireResult.Outcome.ACQUIRED;
import static io.streamhouse.lease.store.AcquireResult.Outcome.AGENT_NOT_LIVE;
import static io.streamhouse.lease.store.AcquireResult.Outcome.ALREADY_HELD;
import static io.streamhouse.lease.store.AcquireResult.Outcome.HELD_BY_OTHER;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariDataSource;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.testing.Registrations;
import io.streamhouse.lease.testing.StoreDatabase;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Every store operation and its error cases, against a real PostgreSQL. */
class PostgresLeaseStoreTest {

    static final Duration TTL = Duration.ofSeconds(30);
    @RegisterExtension
    static final StoreDatabase db = new StoreDatabase("store", 8);
    static HikariDataSource dataSource;
    static PostgresLeaseStore store;

    final AgentId a = AgentId.of("agent-a");
    final AgentId b = AgentId.of("agent-b");
    final LeaseKey p0 = LeaseKey.of("orders", 0);

    @BeforeEach
    void useTheDatabase() {
        dataSource = db.dataSource();
        store = db.store();
    }

    Session register(AgentId agent) {
        return store.register(new AgentRegistration(agent, "default", "zone-1", "10.0.0.1:9092", TTL));
    }

    Session register(AgentId agent, Duration ttl) {
        return store.register(Registrations.registration(agent, ttl));
    }

    long count(String table) throws SQLException {
        try (Connection c = dataSource.getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT count(*) FROM " + table)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    @Nested
    class Sessions {

        @Test
        void registeringAgainStartsANewIncarnation() {
            Session first = register(a);
            Session second = register(a);

            assertThat(first.sessionEpoch()).isEqualTo(1);
            assertThat(second.sessionEpoch()).isEqualTo(2);
            assertThat(second.live()).isTrue();
            assertThat(second.group()).isEqualTo("default");
            assertThat(store.renew(a, first.sessionEpoch())).as("older incarnation may not renew")
                    .isEqualTo(Renewal.SUPERSEDED);
            assertThat(store.renew(a, second.sessionEpoch())).isEqualTo(Renewal.RENEWED);
            assertThat(store.renew(a, 7)).as("an incarnation that never was").isEqualTo(Renewal.UNKNOWN);
            assertThat(store.renew(b, 1)).as("an agent that never registered").isEqualTo(Renewal.UNKNOWN);
        }

        @Test
        void renewalExtendsExpiryOnTheDatabaseClock() {
            Session s = register(a);
            assertThat(Duration.between(s.renewedAt(), s.expiresAt())).isEqualTo(TTL);

            assertThat(store.renew(a, s.sessionEpoch())).isEqualTo(Renewal.RENEWED);
            Session after = store.session(a).orElseThrow();
            assertThat(after.expiresAt()).isAfterOrEqualTo(s.expiresAt());
            assertThat(Duration.between(after.renewedAt(), after.expiresAt())).isEqualTo(TTL);
        }

        @Test
        void updatingZoneAddressAndTtlKeepsTheIncarnation() {
            Session s = register(a);

            boolean updated = store.updateRegistration(new AgentRegistration(a, "default", "zone-9", "10.0.0.9:9092",
                    Duration.ofSeconds(5)), s.sessionEpoch());

            Session after = store.session(a).orElseThrow();
            assertThat(updated).isTrue();
            assertThat(after.sessionEpoch()).isEqualTo(s.sessionEpoch());
            assertThat(after.zone()).isEqualTo("zone-9");
            assertThat(after.address()).isEqualTo("10.0.0.9:9092");
            assertThat(after.ttl()).isEqualTo(Duration.ofSeconds(5));
            assertThat(store.updateRegistration(new AgentRegistration(a, "other-group", "", "", TTL), s.sessionEpoch()))
                    .as("a group change needs a new incarnation").isFalse();
            store.expire(a, s.sessionEpoch());
            assertThat(store.updateRegistration(Registrations.registration(a, TTL), s.sessionEpoch()))
                    .as("not on a dead session").isFalse();
        }

        @Test
        void anExpiredSessionStaysDead() {
            Session s = register(a);
            assertThat(store.expire(a, s.sessionEpoch())).isTrue();
            assertThat(store.expire(a, s.sessionEpoch())).as("already expired").isFalse();

            assertThat(store.session(a).orElseThrow().live()).isFalse();
            assertThat(store.renew(a, s.sessionEpoch())).isEqualTo(Renewal.EXPIRED);
        }

        @Test
        void sessionsExpireAfterTheirTtlMeasuredByTheDatabase() {
            Session s = register(a, Duration.ofSeconds(1));
            Session longLived = register(b, Duration.ofSeconds(30));

            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(50))
                    .until(() -> !store.session(a).orElseThrow().live());

            Session dead = store.session(a).orElseThrow();
            assertThat(Duration.between(dead.registeredAt(), dead.expiresAt())).isEqualTo(Duration.ofSeconds(1));
            assertThat(dead.observedAt()).isAfterOrEqualTo(dead.expiresAt());
            assertThat(store.renew(a, s.sessionEpoch())).isEqualTo(Renewal.EXPIRED);
            assertThat(store.session(b).orElseThrow().live()).isTrue();
            assertThat(longLived.live()).isTrue();
        }

        @Test
        void renewAllRenewsOnlyLiveMatchingSessionsInOneStatement() {
            Session sa = register(a);
            Session sb = register(b);
            AgentId c = AgentId.of("agent-c");
            Session sc = register(c);
            store.expire(c, sc.sessionEpoch());

            Set<AgentId> renewed = store.renewAll(List.of(
                    new LeaseStore.SessionRef(a, sa.sessionEpoch()),
                    new LeaseStore.SessionRef(b, sb.sessionEpoch() + 1),   // wrong incarnation
                    new LeaseStore.SessionRef(c, sc.sessionEpoch()),       // expired
                    new LeaseStore.SessionRef(AgentId.of("unknown"), 1)));

            assertThat(renewed).containsExactly(a);
            assertThat(store.renewAll(List.of())).isEmpty();
        }

        @Test
        void listsLiveAndExpiredSessions() {
            register(b);
            Session sa = register(a);
            store.expire(a, sa.sessionEpoch());

            assertThat(store.sessions()).extracting(Session::agent, Session::live)
                    .containsExactly(org.assertj.core.groups.Tuple.tuple(a, false),
                            org.assertj.core.groups.Tuple.tuple(b, true));
            assertThat(store.session(AgentId.of("nobody"))).isEmpty();
        }

        @Test
        void refusesBadRegistrationsBeforeTouchingTheDatabase() throws SQLException {
            assertThatThrownBy(() -> new AgentRegistration(a, "", "", "", TTL))
                    .isInstanceOf(IllegalArgumentException.class).hasMessage("agent group must not be blank");
            assertThatThrownBy(() -> new AgentRegistration(a, "g", "zone a", "", TTL))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("zone 'zone a'");
            assertThatThrownBy(() -> new AgentRegistration(a, "g", "", "x'; DROP TABLE agent_session;--", TTL))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("address");
            assertThatThrownBy(() -> new AgentRegistration(a, "g", "", "", Duration.ofMillis(10)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("session ttl");
            assertThat(count("agent_session")).isZero();
        }
    }

    @Nested
    class Acquire {

        @Test
        void firstAcquisitionGivesEpochOneAndReEnsuringKeepsIt() {
            Session s = register(a);

            AcquireResult first = store.acquire(AcquireRequest.ifFree(p0, a, s.sessionEpoch()), "Assigned");
            AcquireResult again = store.acquire(AcquireRequest.ifFree(p0, a, s.sessionEpoch()), "Assigned");

            assertThat(first.outcome()).isEqualTo(ACQUIRED);
            assertThat(first.lease().epoch()).isEqualTo(1);
            assertThat(first.lease().isHeldBy(a)).isTrue();
            assertThat(again.outcome()).isEqualTo(ALREADY_HELD);
            assertThat(again.lease().epoch()).isEqualTo(1);
            assertThat(store.history(p0)).hasSize(1);
        }

        @Test
        void aFailedCasSaysWhoHoldsItAndAtWhichEpoch() {
            Session sa = register(a);
            Session sb = register(b);
            store.acquire(AcquireRequest.ifFree(p0, a, sa.sessionEpoch()), "Assigned");

            AcquireResult result = store.acquire(AcquireRequest.ifFree(p0, b, sb.sessionEpoch()), "Assigned");

            assertThat(result.outcome()).isEqualTo(HELD_BY_OTHER);
            assertThat(result.succeeded()).isFalse();
            assertThat(result.lease().holder()).isEqualTo(a);
            assertThat(result.lease().epoch()).isEqualTo(1);
            assertThat(result.lease().holderLive()).isTrue();
        }

        @Test
        void aPlannedMoveNeedsTheExpectedHolderAndEpoch() {
            Session sa = register(a);
            Session sb = register(b);
            store.acquire(AcquireRequest.ifFree(p0, a, sa.sessionEpoch()), "Assigned");

            AcquireResult wrongEpoch = store.acquire(AcquireRequest.takeOver(p0, b, sb.sessionEpoch(), a, 7), "Handoff");
            AcquireResult wrongHolder = store.acquire(AcquireRequest.takeOver(p0, b, sb.sessionEpoch(), b, 1), "Handoff");
            AcquireResult moved = store.acquire(AcquireRequest.takeOver(p0, b, sb.sessionEpoch(), a, 1), "Handoff");

            assertThat(wrongEpoch.outcome()).isEqualTo(HELD_BY_OTHER);
            assertThat(wrongHolder.outcome()).isEqualTo(HELD_BY_OTHER);
            assertThat(moved.outcome()).isEqualTo(ACQUIRED);
            assertThat(moved.lease().holder()).isEqualTo(b);
            assertThat(moved.lease().epoch()).isEqualTo(2);
            assertThat(store.history(p0)).extracting(HistoryEntry::epoch, HistoryEntry::from, HistoryEntry::to, HistoryEntry::reason)
                    .containsExactly(org.assertj.core.groups.Tuple.tuple(1L, null, a, "Assigned"),
                            org.assertj.core.groups.Tuple.tuple(2L, a, b, "Handoff"));
        }

        @Test
        void anyLiveAgentMayTakeALeaseWhoseHolderSessionDied() {
            Session sa = register(a);
            Session sb = register(b);
            store.acquire(AcquireRequest.ifFree(p0, a, sa.sessionEpoch()), "Assigned");
            store.expire(a, sa.sessionEpoch());

            assertThat(store.lease(p0).orElseThrow().isHeld()).as("holder expired").isFalse();
            AcquireResult result = store.acquire(AcquireRequest.ifFree(p0, b, sb.sessionEpoch()), "AgentLost");

            assertThat(result.outcome()).isEqualTo(ACQUIRED);
            assertThat(result.lease().epoch()).isEqualTo(2);
        }

        @Test
        void anAgentWithoutALiveSessionGetsNothing() throws SQLException {
            Session sa = register(a);
            store.expire(a, sa.sessionEpoch());

            AcquireResult dead = store.acquire(AcquireRequest.ifFree(p0, a, sa.sessionEpoch()), "Assigned");
            AcquireResult never = store.acquire(AcquireRequest.ifFree(p0, b, 1), "Assigned");

            assertThat(dead.outcome()).isEqualTo(AGENT_NOT_LIVE);
            assertThat(never.outcome()).isEqualTo(AGENT_NOT_LIVE);
            assertThat(store.lease(p0).orElseThrow().holder()).isNull();
            assertThat(count("lease_history")).isZero();
        }

        @Test
        void aNewIncarnationOfTheSameAgentIsANewHolder() {
            Session old = register(a);
            store.acquire(AcquireRequest.ifFree(p0, a, old.sessionEpoch()), "Assigned");
            Session fresh = register(a);

            AcquireResult zombie = store.acquire(AcquireRequest.ifFree(p0, a, old.sessionEpoch()), "Assigned");
            AcquireResult reborn = store.acquire(AcquireRequest.ifFree(p0, a, fresh.sessionEpoch()), "Assigned");

            assertThat(zombie.outcome()).isEqualTo(AGENT_NOT_LIVE);
            assertThat(reborn.outcome()).isEqualTo(ACQUIRED);
            assertThat(reborn.lease().epoch()).as("fences the old incarnation's writes").isEqualTo(2);
            assertThat(store.validate(p0, a, old.sessionEpoch(), 1).status()).isEqualTo(Validation.Status.SUPERSEDED);
            assertThat(store.validate(p0, a, old.sessionEpoch(), 2).status()).as("not even at the new epoch")
                    .isEqualTo(Validation.Status.SUPERSEDED);
        }

        @Test
        void aBatchMovesAThousandPartitionsInOneCall() {
            Session sa = register(a);
            Session sb = register(b);
            List<AcquireRequest> toA = new ArrayList<>();
            for (int p = 999; p >= 0; p--) { // deliberately unordered: the store orders the locks
                toA.add(AcquireRequest.ifFree(LeaseKey.of("orders", p), a, sa.sessionEpoch()));
            }
            List<AcquireResult> assigned = store.acquireAll(toA, "Assigned");
            assertThat(assigned).hasSize(1000).allMatch(r -> r.outcome() == ACQUIRED && r.lease().epoch() == 1);
            assertThat(assigned.get(0).lease().key()).isEqualTo(LeaseKey.of("orders", 0));
            assertThat(assigned.get(999).lease().key()).isEqualTo(LeaseKey.of("orders", 999));

            store.expire(a, sa.sessionEpoch());
            List<AcquireRequest> toB = store.leasesHeldBy(a).stream()
                    .map(l -> AcquireRequest.ifFree(l.key(), b, sb.sessionEpoch())).toList();
            List<AcquireResult> failover = store.acquireAll(toB, "AgentLost");

            assertThat(failover).hasSize(1000).allMatch(r -> r.outcome() == ACQUIRED
                    && r.lease().holder().equals(b) && r.lease().epoch() == 2);
            assertThat(store.leasesHeldBy(b)).hasSize(1000);
        }

        @Test
        void aBatchReportsEachOutcome() {
            Session sa = register(a);
            Session sb = register(b);
            LeaseKey p1 = LeaseKey.of("orders", 1);
            store.acquire(AcquireRequest.ifFree(p0, a, sa.sessionEpoch()), "Assigned");

            List<AcquireResult> results = store.acquireAll(List.of(
                    AcquireRequest.ifFree(p1, b, sb.sessionEpoch()),
                    AcquireRequest.ifFree(p0, b, sb.sessionEpoch())), "Assigned");

            assertThat(results).extracting(r -> r.lease().key(), AcquireResult::outcome)
                    .containsExactly(org.assertj.core.groups.Tuple.tuple(p0, HELD_BY_OTHER),
                            org.assertj.core.groups.Tuple.tuple(p1, ACQUIRED));
            assertThat(store.acquireAll(List.of(), "Assigned")).isEmpty();
        }

        @Test
        void aBatchNamingAPartitionTwiceIsRefused() {
            Session sa = register(a);
            assertThatThrownBy(() -> store.acquireAll(List.of(
                    AcquireRequest.ifFree(p0, a, sa.sessionEpoch()),
                    AcquireRequest.ifFree(p0, a, sa.sessionEpoch())), "Assigned"))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("batch names orders/0 twice");
            assertThat(store.lease(p0)).isEmpty();
        }

        @Test
        void refusesBadRequests() {
            assertThatThrownBy(() -> AcquireRequest.ifFree(p0, a, 0))
                    .isInstanceOf(IllegalArgumentException.class).hasMessage("session epoch must be > 0, got 0");
            assertThatThrownBy(() -> AcquireRequest.takeOver(p0, a, 1, b, 0))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("expected epoch");
            assertThatThrownBy(() -> store.acquire(AcquireRequest.ifFree(p0, a, 1), "bad reason; --"))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("reason");
            assertThat(store.lease(p0)).isEmpty();
        }
    }

    @Nested
    class Release {

        @Test
        void aShutdownEndsTheSessionAndReleasesEverythingAtOnce() {
            Session sa = register(a);
            LeaseKey p1 = LeaseKey.of("orders", 1);
            store.acquire(AcquireRequest.ifFree(p0, a, sa.sessionEpoch()), "Assigned");
            store.acquire(AcquireRequest.ifFree(p1, a, sa.sessionEpoch()), "Assigned");

            assertThat(store.shutdown(a, sa.sessionEpoch(), "Shutdown")).containsExactly(p0, p1);

            assertThat(store.session(a).orElseThrow().live()).isFalse();
            assertThat(store.lease(p0).orElseThrow().holder()).isNull();
            assertThat(store.history(p1)).extracting(HistoryEntry::reason).containsExactly("Assigned", "Shutdown");
            // Not live any more: nothing can be given back to it.
            assertThat(store.acquire(AcquireRequest.ifFree(p0, a, sa.sessionEpoch()), "Assigned").outcome())
                    .isEqualTo(AcquireResult.Outcome.AGENT_NOT_LIVE);
            assertThat(store.shutdown(a, sa.sessionEpoch(), "Shutdown")).as("twice: nothing left").isEmpty();
        }

        @Test
        void unheldPartitionsAreTheReleasedAndTheMissingOnesOfThoseTopicsOnly() {
            Session sa = register(a);
            LeaseKey x0 = LeaseKey.of("free-x", 0);
            LeaseKey x1 = LeaseKey.of("free-x", 1);
            LeaseKey y0 = LeaseKey.of("free-y", 0);
            LeaseKey z0 = LeaseKey.of("free-z", 0);
            for (LeaseKey key : List.of(x0, x1, y0, z0)) {
                store.acquire(AcquireRequest.ifFree(key, a, sa.sessionEpoch()), "Assigned");
            }
            store.release(x1, a, sa.sessionEpoch(), 1, "Released");
            store.release(z0, a, sa.sessionEpoch(), 1, "Released");

            Map<String, Integer> topics = new java.util.LinkedHashMap<>();
            topics.put("free-y", 2); // partition 1 has no row yet
            topics.put("free-x", 3); // 1 released, 2 has no row yet
            assertThat(store.unheldPartitions(topics)).containsExactly(x1, LeaseKey.of("free-x", 2), LeaseKey.of("free-y", 1));
            assertThat(store.unheldPartitions(Map.of("free-x", 0))).isEmpty();
            assertThat(store.unheldPartitions(Map.of())).isEmpty();
            assertThatThrownBy(() -> store.unheldPartitions(Map.of("bad topic", 1))).isInstanceOf(IllegalArgumentException.class);
        }

        @Test
        void theHolderReleasesAtItsEpochAndTheNextHolderGetsEpochPlusOne() {
            Session sa = register(a);
            Session sb = register(b);
            store.acquire(AcquireRequest.ifFree(p0, a, sa.sessionEpoch()), "Assigned");

            ReleaseResult released = store.release(p0, a, sa.sessionEpoch(), 1, "Released");
            AcquireResult next = store.acquire(AcquireRequest.ifFree(p0, b, sb.sessionEpoch()), "Assigned");

            assertThat(released.released()).isTrue();
            assertThat(released.lease().holder()).isNull();
            assertThat(released.lease().epoch()).as("release keeps the epoch").isEqualTo(1);
            assertThat(next.lease().epoch()).isEqualTo(2);
            assertThat(store.history(p0)).extracting(HistoryEntry::from, HistoryEntry::to)
                    .containsExactly(org.assertj.core.groups.Tuple.tuple(null, a),
                            org.assertj.core.groups.Tuple.tuple(a, null),
                            org.assertj.core.groups.Tuple.tuple(null, b));
        }

        @Test
        void aReleaseWithTheWrongEpochOrHolderChangesNothing() {
            Session sa = register(a);
            store.acquire(AcquireRequest.ifFree(p0, a, sa.sessionEpoch()), "Assigned");

            ReleaseResult wrongEpoch = store.release(p0, a, sa.sessionEpoch(), 2, "Released");
            ReleaseResult wrongHolder = store.release(p0, b, sa.sessionEpoch(), 1, "Released");
            ReleaseResult wrongIncarnation = store.release(p0, a, sa.sessionEpoch() + 1, 1, "Released");
            ReleaseResult unknown = store.release(LeaseKey.of("nothing", 3), a, sa.sessionEpoch(), 1, "Released");
            assertThat(wrongIncarnation.released()).isFalse();

            assertThat(wrongEpoch.released()).isFalse();
            assertThat(wrongEpoch.lease().holder()).isEqualTo(a);
            assertThat(wrongHolder.released()).isFalse();
            assertThat(unknown.released()).isFalse();
            assertThat(unknown.lease().epoch()).isZero();
            assertThat(store.lease(p0).orElseThrow().isHeldBy(a)).isTrue();
            assertThat(store.history(p0)).hasSize(1);
        }

        @Test
        void releaseAllReleasesOnlyThatIncarnation() {
            Session old = register(a);
            for (int p = 0; p < 5; p++) {
                store.acquire(AcquireRequest.ifFree(LeaseKey.of("orders", p), a, old.sessionEpoch()), "Assigned");
            }
            Session fresh = register(a);
            store.acquire(AcquireRequest.ifFree(LeaseKey.of("orders", 0), a, fresh.sessionEpoch()), "Assigned");

            List<LeaseKey> byZombie = store.releaseAll(a, old.sessionEpoch(), "Shutdown");
            assertThat(byZombie).extracting(LeaseKey::partition).containsExactly(1, 2, 3, 4);
            assertThat(store.lease(LeaseKey.of("orders", 0)).orElseThrow().isHeldBy(a)).isTrue();

            assertThat(store.releaseAll(a, fresh.sessionEpoch(), "Shutdown")).containsExactly(LeaseKey.of("orders", 0));
            assertThat(store.leasesHeldBy(a)).isEmpty();
        }
    }

    @Nested
    class Validate {

        @Test
        void judgesEveryCase() {
            Session sa = register(a);
            Session sb = register(b);
            store.acquire(AcquireRequest.ifFree(p0, a, sa.sessionEpoch()), "Assigned");
            store.acquire(AcquireRequest.takeOver(p0, b, sb.sessionEpoch(), a, 1), "Handoff");

            long ea = sa.sessionEpoch();
            long eb = sb.sessionEpoch();
            assertThat(store.validate(p0, b, eb, 2)).isEqualTo(new Validation(Validation.Status.VALID, b, 2));
            assertThat(store.validate(p0, a, ea, 1)).isEqualTo(new Validation(Validation.Status.STALE_EPOCH, b, 2));
            assertThat(store.validate(p0, a, ea, 2).status()).isEqualTo(Validation.Status.NOT_HOLDER);
            assertThat(store.validate(p0, b, eb, 3).status()).isEqualTo(Validation.Status.NOT_HOLDER);
            assertThat(store.validate(p0, b, eb + 1, 2).status()).as("another incarnation of b")
                    .isEqualTo(Validation.Status.NOT_HOLDER);
            assertThat(store.validate(LeaseKey.of("never", 0), a, ea, 1))
                    .isEqualTo(new Validation(Validation.Status.NOT_HOLDER, null, 0));

            store.expire(b, eb);
            assertThat(store.validate(p0, b, eb, 2).status()).isEqualTo(Validation.Status.EXPIRED);

            Session sa2 = register(a);
            assertThat(store.validate(p0, a, ea, 1).status()).isEqualTo(Validation.Status.SUPERSEDED);
            store.acquire(AcquireRequest.ifFree(p0, a, sa2.sessionEpoch()), "AgentLost");
            store.release(p0, a, sa2.sessionEpoch(), 3, "Released");
            assertThat(store.validate(p0, a, sa2.sessionEpoch(), 3))
                    .isEqualTo(new Validation(Validation.Status.NOT_HOLDER, null, 3));
        }
    }

    @Nested
    class Fenced {

        @BeforeEach
        void createTargetTable() throws SQLException {
            try (Connection c = dataSource.getConnection(); Statement s = c.createStatement()) {
                s.execute("CREATE TABLE IF NOT EXISTS fenced_target (id serial, epoch bigint NOT NULL)");
                s.execute("TRUNCATE fenced_target");
            }
        }

        int insert(Connection c, long epoch) throws SQLException {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO fenced_target (epoch) VALUES (?)")) {
                ps.setLong(1, epoch);
                return ps.executeUpdate();
            }
        }

        @Test
        void theValidHolderCommits() throws SQLException {
            Session sa = register(a);
            store.acquire(AcquireRequest.ifFree(p0, a, sa.sessionEpoch()), "Assigned");

            int rows = store.fenced(p0, a, sa.sessionEpoch(), 1, c -> insert(c, 1));

            assertThat(rows).isEqualTo(1);
            assertThat(count("fenced_target")).isEqualTo(1);
        }

        @Test
        void aStaleEpochNeverRunsTheWork() throws SQLException {
            Session sa = register(a);
            Session sb = register(b);
            store.acquire(AcquireRequest.ifFree(p0, a, sa.sessionEpoch()), "Assigned");
            store.acquire(AcquireRequest.takeOver(p0, b, sb.sessionEpoch(), a, 1), "Handoff");
            AtomicBoolean ran = new AtomicBoolean();

            assertThatThrownBy(() -> store.fenced(p0, a, sa.sessionEpoch(), 1, c -> { ran.set(true); return insert(c, 1); }))
                    .isInstanceOfSatisfying(FencingException.class, e -> {
                        assertThat(e.validation().status()).isEqualTo(Validation.Status.STALE_EPOCH);
                        assertThat(e.validation().currentEpoch()).isEqualTo(2);
                    })
                    .hasMessageStartingWith("write refused, orders/0: stale epoch 1 for agent-a (session 1)"
                            + " (held by agent-b at epoch 2): ERROR: orders/0: stale epoch 1 for agent-a");
            assertThat(ran).isFalse();
            assertThat(count("fenced_target")).isZero();
        }

        @Test
        void anExpiredHolderCannotWrite() throws SQLException {
            Session sa = register(a);
            store.acquire(AcquireRequest.ifFree(p0, a, sa.sessionEpoch()), "Assigned");
            store.expire(a, sa.sessionEpoch());

            assertThatThrownBy(() -> store.fenced(p0, a, sa.sessionEpoch(), 1, c -> insert(c, 1)))
                    .isInstanceOfSatisfying(FencingException.class,
                            e -> assertThat(e.validation().status()).isEqualTo(Validation.Status.EXPIRED));
            assertThat(count("fenced_target")).isZero();
        }

        @Test
        void aFailingWorkIsRolledBack() throws SQLException {
            Session sa = register(a);
            store.acquire(AcquireRequest.ifFree(p0, a, sa.sessionEpoch()), "Assigned");

            assertThatThrownBy(() -> store.fenced(p0, a, sa.sessionEpoch(), 1, c -> {
                insert(c, 1);
                throw new IllegalStateException("caller gave up");
            })).isInstanceOf(IllegalStateException.class);
            assertThatThrownBy(() -> store.fenced(p0, a, sa.sessionEpoch(), 1, c -> {
                insert(c, 1);
                try (Statement s = c.createStatement()) {
                    return s.executeUpdate("INSERT INTO no_such_table VALUES (1)");
                }
            })).isInstanceOf(StoreException.class).hasMessageContaining("no_such_table");
            assertThat(count("fenced_target")).isZero();
        }

        @Test
        void aDroppedConnectionIsReportedAsUnavailableAndCommitsNothing() throws SQLException {
            Session sa = register(a);
            store.acquire(AcquireRequest.ifFree(p0, a, sa.sessionEpoch()), "Assigned");

            assertThatThrownBy(() -> store.fenced(p0, a, sa.sessionEpoch(), 1, c -> {
                insert(c, 1);
                try (Statement s = c.createStatement()) {
                    s.execute("SELECT pg_terminate_backend(pg_backend_pid())");
                }
                return insert(c, 1);
            })).isInstanceOf(StoreUnavailableException.class)
                    .hasMessageContaining("lease store unavailable");
            assertThat(count("fenced_target")).isZero();
            assertThat(store.validate(p0, a, sa.sessionEpoch(), 1).isValid()).as("pool recovers").isTrue();
        }
    }

    @Nested
    class BadInputAndHistory {

        @Test
        void badInputChangesNothing() throws SQLException {
            Session sa = register(a);
            assertThatThrownBy(() -> store.acquire(AcquireRequest.ifFree(LeaseKey.of(" ", 0), a, 1), "Assigned"))
                    .isInstanceOf(IllegalArgumentException.class).hasMessage("topic must not be blank");
            assertThatThrownBy(() -> store.validate(LeaseKey.of("orders", -3), a, 1, 1))
                    .isInstanceOf(IllegalArgumentException.class).hasMessage("partition must be >= 0, got -3");
            assertThatThrownBy(() -> store.releaseAll(AgentId.of("x' OR '1'='1"), sa.sessionEpoch(), "Shutdown"))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("agent id");
            assertThatThrownBy(() -> store.acquire(null, "Assigned")).isInstanceOf(NullPointerException.class);
            assertThat(count("partition_lease")).isZero();
            assertThat(count("lease_history")).isZero();
        }

        @Test
        void historyIsAppendOnly() throws SQLException {
            Session sa = register(a);
            store.acquire(AcquireRequest.ifFree(p0, a, sa.sessionEpoch()), "Assigned");
            try (Connection c = dataSource.getConnection(); Statement s = c.createStatement()) {
                assertThatThrownBy(() -> s.executeUpdate("UPDATE lease_history SET epoch = 0"))
                        .hasMessageContaining("lease_history is append-only (UPDATE refused)");
                assertThatThrownBy(() -> s.executeUpdate("DELETE FROM lease_history"))
                        .hasMessageContaining("lease_history is append-only (DELETE refused)");
            }
            assertThat(store.history(p0)).singleElement().satisfies(h -> {
                assertThat(h.epoch()).isEqualTo(1);
                assertThat(h.to()).isEqualTo(a);
                assertThat(h.at()).isNotNull();
            });
        }

        @Test
        void readsLeasesByHolderAndAll() {
            Session sa = register(a);
            Session sb = register(b);
            store.acquire(AcquireRequest.ifFree(LeaseKey.of("b-topic", 0), a, sa.sessionEpoch()), "Assigned");
            store.acquire(AcquireRequest.ifFree(LeaseKey.of("a-topic", 1), a, sa.sessionEpoch()), "Assigned");
            store.acquire(AcquireRequest.ifFree(LeaseKey.of("a-topic", 0), b, sb.sessionEpoch()), "Assigned");

            assertThat(store.leasesHeldBy(a)).extracting(Lease::key)
                    .containsExactly(LeaseKey.of("a-topic", 1), LeaseKey.of("b-topic", 0));
            assertThat(store.leases()).extracting(Lease::key)
                    .containsExactly(LeaseKey.of("a-topic", 0), LeaseKey.of("a-topic", 1), LeaseKey.of("b-topic", 0));
            assertThat(store.lease(LeaseKey.of("a-topic", 0)).orElseThrow().acquiredAt()).isNotNull();
        }
    }

    /**
     * Since when a partition had no valid holder (V9): what streamhouse_partition_unheld_seconds is
     * made of. Each case through the single compare-and-swap and through a batch, which compute it
     * in two different places.
     */
    @Nested
    class UnheldSince {

        AcquireResult acquire(boolean batch, AcquireRequest request, String reason) {
            return batch ? store.acquireAll(List.of(request), reason).get(0) : store.acquire(request, reason);
        }

        @ParameterizedTest(name = "batch={0}")
        @ValueSource(booleans = {false, true})
        void aPartitionsFirstHolderEndsNoGap(boolean batch) {
            Session sa = register(a);
            AcquireResult first = acquire(batch, AcquireRequest.ifFree(p0, a, sa.sessionEpoch()), "Assigned");

            assertThat(first.outcome()).isEqualTo(ACQUIRED);
            assertThat(first.unheldSince()).as("never held: not a gap").isNull();
            assertThat(first.unheldFor()).isEmpty();
        }

        @ParameterizedTest(name = "batch={0}")
        @ValueSource(booleans = {false, true})
        void aDeadHoldersLeaseWasUnheldFromItsSessionsEnd(boolean batch) {
            Session sa = register(a);
            Session sb = register(b);
            store.acquire(AcquireRequest.ifFree(p0, a, sa.sessionEpoch()), "Assigned");
            store.expire(a, sa.sessionEpoch());
            java.time.Instant ended = store.session(a).orElseThrow().expiresAt();

            AcquireResult taken = acquire(batch, AcquireRequest.ifFree(p0, b, sb.sessionEpoch()), "AgentLost");

            assertThat(taken.unheldSince()).isEqualTo(ended);
            assertThat(taken.unheldFor()).contains(Duration.between(ended, taken.lease().acquiredAt()));
            assertThat(taken.unheldFor().orElseThrow()).isPositive();
        }

        @ParameterizedTest(name = "batch={0}")
        @ValueSource(booleans = {false, true})
        void aReleasedLeaseWasUnheldFromItsRelease(boolean batch) {
            Session sa = register(a);
            Session sb = register(b);
            AcquireResult held = store.acquire(AcquireRequest.ifFree(p0, a, sa.sessionEpoch()), "Assigned");
            store.release(p0, a, sa.sessionEpoch(), held.lease().epoch(), "Handoff");
            java.time.Instant released = store.lease(p0).orElseThrow().updatedAt();

            AcquireResult taken = acquire(batch, AcquireRequest.ifFree(p0, b, sb.sessionEpoch()), "Assigned");

            assertThat(taken.unheldSince()).isEqualTo(released);
            assertThat(taken.unheldFor().orElseThrow()).isEqualTo(Duration.between(released, taken.lease().acquiredAt()));
        }

        @ParameterizedTest(name = "batch={0}")
        @ValueSource(booleans = {false, true})
        void aTakeoverFromALiveHolderLeavesNoGap(boolean batch) {
            Session sa = register(a);
            Session sb = register(b);
            AcquireResult held = store.acquire(AcquireRequest.ifFree(p0, a, sa.sessionEpoch()), "Assigned");

            AcquireResult moved = acquire(batch, AcquireRequest.takeOver(p0, b, sb.sessionEpoch(), a,
                    held.lease().epoch()), "Moved");

            assertThat(moved.outcome()).isEqualTo(ACQUIRED);
            assertThat(moved.unheldFor()).contains(Duration.ZERO);
        }

        @ParameterizedTest(name = "batch={0}")
        @ValueSource(booleans = {false, true})
        void aSupersededHolderWasOverAtTheLatestWhenItsNextIncarnationRegistered(boolean batch) {
            Session old = register(a);
            Session sb = register(b);
            store.acquire(AcquireRequest.ifFree(p0, a, old.sessionEpoch()), "Assigned");
            Session fresh = register(a);

            AcquireResult taken = acquire(batch, AcquireRequest.ifFree(p0, b, sb.sessionEpoch()), "AgentLost");

            assertThat(taken.unheldSince()).isEqualTo(fresh.registeredAt());
        }

        @ParameterizedTest(name = "batch={0}")
        @ValueSource(booleans = {false, true})
        void onlyAnAcquisitionSaysIt(boolean batch) {
            Session sa = register(a);
            Session sb = register(b);
            store.acquire(AcquireRequest.ifFree(p0, a, sa.sessionEpoch()), "Assigned");

            AcquireResult again = acquire(batch, AcquireRequest.ifFree(p0, a, sa.sessionEpoch()), "Assigned");
            AcquireResult refused = acquire(batch, AcquireRequest.ifFree(p0, b, sb.sessionEpoch()), "Assigned");

            assertThat(again.outcome()).isEqualTo(ALREADY_HELD);
            assertThat(refused.outcome()).isEqualTo(HELD_BY_OTHER);
            assertThat(List.of(again, refused)).allMatch(r -> r.unheldSince() == null && r.unheldFor().isEmpty());
        }
    }

    /**
     * The assignments version: every change to what lease_assignments answers an agent moves its
     * number in the same transaction (else an agent that checks it instead of looking would miss
     * the change); a renewal or a fenced write does not (else every check would be a look).
     */
    @Nested
    class AssignmentsVersion {

        Map<String, Long> versions() {
            return Map.of("a", store.assignmentsVersion(a), "b", store.assignmentsVersion(b));
        }

        @Test
        void movesWithEveryChangeToTheAnswerAndNotWithRenewalsOrWrites() {
            Session sa = register(a);
            Session sb = register(b);
            assertThat(versions()).isEqualTo(Map.of("a", 0L, "b", 0L));

            AcquireResult held = store.acquire(AcquireRequest.ifFree(p0, a, sa.sessionEpoch()), "Assigned");
            Map<String, Long> afterAcquire = versions();
            assertThat(afterAcquire.get("a")).isPositive();
            assertThat(afterAcquire.get("b")).isZero();

            store.renew(a, sa.sessionEpoch());
            store.fenced(p0, a, sa.sessionEpoch(), held.lease().epoch(), c -> 1);
            assertThat(versions()).as("a renewal and a write change nothing an agent is told").isEqualTo(afterAcquire);

            assertThat(store.requestHandoff(p0, a, sa.sessionEpoch(), held.lease().epoch(), b)).isTrue();
            Map<String, Long> afterRequest = versions();
            assertThat(afterRequest.get("a")).as("a handoff asked of a").isGreaterThan(afterAcquire.get("a"));
            assertThat(store.cancelHandoff(p0)).isTrue();
            Map<String, Long> afterCancel = versions();
            assertThat(afterCancel.get("a")).as("and withdrawn").isGreaterThan(afterRequest.get("a"));

            AcquireResult moved = store.acquireAll(List.of(AcquireRequest.takeOver(p0, b, sb.sessionEpoch(), a,
                    held.lease().epoch())), "Moved").get(0);
            Map<String, Long> afterMove = versions();
            assertThat(afterMove.get("a")).as("it left a").isGreaterThan(afterCancel.get("a"));
            assertThat(afterMove.get("b")).as("it came to b").isPositive();

            store.release(p0, b, sb.sessionEpoch(), moved.lease().epoch(), "Handoff");
            assertThat(versions().get("b")).as("b released it").isGreaterThan(afterMove.get("b"));
        }
    }

    @Nested
    class AssignmentChangesSince {

        final LeaseKey p1 = LeaseKey.of("orders", 1);

        AssignmentChanges changes(AgentId agent, Session session, long since) {
            return store.assignmentChanges(agent, session.sessionEpoch(), since).orElseThrow();
        }

        @Test
        void answersTheLeasesChangedSinceAVersionAsTheyStandNow() {
            Session sa = register(a);
            Session sb = register(b);
            long start = store.assignmentsVersion(a);
            AcquireResult held0 = store.acquire(AcquireRequest.ifFree(p0, a, sa.sessionEpoch()), "Assigned");
            AcquireResult held1 = store.acquire(AcquireRequest.ifFree(p1, a, sa.sessionEpoch()), "Assigned");

            assertThat(changes(a, sa, start).held()).containsExactly(
                    new Assignment(p0, held0.lease().epoch(), null), new Assignment(p1, held1.lease().epoch(), null));
            long looked = store.assignmentsVersion(a);
            assertThat(changes(a, sa, looked)).as("nothing since the look")
                    .isEqualTo(new AssignmentChanges(List.of(), List.of()));

            store.renew(a, sa.sessionEpoch());
            store.fenced(p0, a, sa.sessionEpoch(), held0.lease().epoch(), c -> 1);
            assertThat(changes(a, sa, looked).held()).as("renewals and writes change nothing").isEmpty();

            assertThat(store.requestHandoff(p0, a, sa.sessionEpoch(), held0.lease().epoch(), b)).isTrue();
            store.acquireAll(List.of(AcquireRequest.takeOver(p1, b, sb.sessionEpoch(), a, held1.lease().epoch())),
                    "Moved");
            AssignmentChanges since = changes(a, sa, looked);
            assertThat(since.held()).as("a handoff asked of it, shown as the full look shows it")
                    .containsExactly(new Assignment(p0, held0.lease().epoch(), b));
            assertThat(since.gone()).as("a lease that left it").containsExactly(p1);
            assertThat(since.held()).containsExactlyElementsOf(store.assignments(a, sa.sessionEpoch()));
            assertThat(changes(b, sb, 0).held()).as("the new holder's side")
                    .containsExactly(new Assignment(p1, held1.lease().epoch() + 1, null));

            assertThat(store.cancelHandoff(p0)).isTrue();
            assertThat(changes(a, sa, looked).held()).as("the state now, not the history")
                    .containsExactly(new Assignment(p0, held0.lease().epoch(), null));
        }

        @Test
        void anotherIncarnationsLeasesAreGoneAndAnEndedSessionIsAnsweredEmpty() {
            Session first = register(a);
            store.acquire(AcquireRequest.ifFree(p0, a, first.sessionEpoch()), "Assigned");
            Session second = register(a);
            assertThat(changes(a, second, 0).gone()).as("held by the older incarnation, not this one")
                    .containsExactly(p0);
            assertThat(store.assignmentChanges(a, first.sessionEpoch(), 0)).as("a superseded incarnation").isEmpty();
            assertThat(store.expire(a, second.sessionEpoch())).isTrue();
            assertThat(store.assignmentChanges(a, second.sessionEpoch(), 0)).as("an expired one").isEmpty();
        }

        @Test
        void keepsTheLastVersionsOnlyAndRefusesALookFromBeforeThem() throws SQLException {
            Session sa = register(a);
            Session sb = register(b);
            AcquireResult held = store.acquire(AcquireRequest.ifFree(p0, a, sa.sessionEpoch()), "Assigned");
            // Each request and each withdrawal is a version of a: 1,100 of them, past the 1,024 kept.
            for (int i = 0; i < 550; i++) {
                store.requestHandoff(p0, a, sa.sessionEpoch(), held.lease().epoch(), b);
                store.cancelHandoff(p0);
            }
            long now = store.assignmentsVersion(a);
            assertThat(now).isGreaterThan(1_024);
            assertThat(store.assignmentChanges(a, sa.sessionEpoch(), 0)).as("the first versions are gone").isEmpty();
            assertThat(store.assignmentChanges(a, sa.sessionEpoch(), now - 1_024)).as("the oldest one kept").isPresent();
            assertThat(changes(a, sa, now - 1).held()).containsExactly(new Assignment(p0, held.lease().epoch(), null));
            try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(
                    "SELECT count(*), min(version) FROM lease_agent_change_log WHERE agent_id = ?")) {
                ps.setString(1, a.value());
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    assertThat(rs.getLong(1)).as("entries kept").isEqualTo(1_024);
                    assertThat(rs.getLong(2)).isEqualTo(now - 1_023);
                }
            }
            assertThat(changes(b, sb, 0).held()).as("b's own log untouched by a's pruning").isEmpty();
        }

        @Test
        void forgettingAnAgentRefusesLooksFromBeforeAndKeepsCountingAfter() throws SQLException {
            Session sa = register(a);
            store.acquire(AcquireRequest.ifFree(p0, a, sa.sessionEpoch()), "Assigned");
            long before = store.assignmentsVersion(a);

            store.forgetAssignmentChanges(a);

            assertThat(count("lease_agent_change_log")).isZero();
            assertThat(store.assignmentChanges(a, sa.sessionEpoch(), before - 1)).isEmpty();
            assertThat(store.assignmentChanges(a, sa.sessionEpoch(), before)).isPresent();
            store.acquire(AcquireRequest.ifFree(p1, a, sa.sessionEpoch()), "Assigned");
            assertThat(changes(a, sa, before).held()).extracting(Assignment::key).containsExactly(p1);
        }

        /**
         * The claim the look rests on: a version read at any moment has every change numbered at or
         * below it committed. A writer stopped inside its transaction holds the agent's number: a
         * second writer for the same agent waits for it, and numbers its change after it.
         */
        @Test
        void aChangeCommittedLateIsNumberedAfterEveryVersionReadBeforeIt() throws Exception {
            Session sa = register(a);
            long start = store.assignmentsVersion(a);
            try (Connection stopped = dataSource.getConnection()) {
                stopped.setAutoCommit(false);
                try (PreparedStatement ps = stopped.prepareStatement(LeaseSql.ACQUIRE)) {
                    ps.setString(1, p0.topic());
                    ps.setInt(2, p0.partition());
                    ps.setString(3, a.value());
                    ps.setLong(4, sa.sessionEpoch());
                    ps.setNull(5, java.sql.Types.VARCHAR);
                    ps.setNull(6, java.sql.Types.BIGINT);
                    ps.setString(7, "Assigned");
                    ps.executeQuery().close();
                }
                var second = java.util.concurrent.CompletableFuture.runAsync(
                        () -> store.acquire(AcquireRequest.ifFree(p1, a, sa.sessionEpoch()), "Assigned"));
                await().atMost(Duration.ofSeconds(10)).until(() -> waitingForALock() > 0);
                assertThat(changes(a, sa, start).held()).as("neither is committed").isEmpty();
                stopped.commit();
                second.get(10, java.util.concurrent.TimeUnit.SECONDS);
            }
            long version = store.assignmentsVersion(a);
            assertThat(version).isEqualTo(start + 2);
            assertThat(changes(a, sa, start + 1).held()).as("the second writer's change came after the first's")
                    .extracting(Assignment::key).containsExactly(p1);
        }

        long waitingForALock() throws SQLException {
            try (Connection c = dataSource.getConnection(); Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                         + " AND datname = current_database()")) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }
}
