package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.smallrye.config.EnvConfigSource;
import io.smallrye.config.SmallRyeConfig;
import io.smallrye.config.SmallRyeConfigBuilder;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** How the database settings read the environment, as the operator's Deployment sets it. */
class DatabaseConfigTest {

    static DatabaseConfig fromEnvironment(Map<String, String> env) {
        SmallRyeConfig config = new SmallRyeConfigBuilder().withMapping(DatabaseConfig.class)
                .withConverter(java.time.Duration.class, 200, new io.quarkus.runtime.configuration.DurationConverter())
                .withSources(new EnvConfigSource(env, 300)).build();
        return config.getConfigMapping(DatabaseConfig.class);
    }

    @Test
    void anEmptyPasswordMeansNoPasswordAndStartsFine() {
        // A Secret whose password is "" gives an empty variable; that used to stop the operator.
        DatabaseConfig config = fromEnvironment(Map.of("STREAMHOUSE_DB_URL", "jdbc:postgresql://db/x",
                "STREAMHOUSE_DB_PASSWORD", ""));
        assertThat(config.password()).isEmpty();
    }

    @Test
    void anAbsentPasswordMeansNoPasswordNotASilentDefault() {
        assertThat(fromEnvironment(Map.of("STREAMHOUSE_DB_URL", "jdbc:postgresql://db/x")).password()).isEmpty();
    }

    @Test
    void aGivenPasswordIsUsedAsIs() {
        assertThat(fromEnvironment(Map.of("STREAMHOUSE_DB_PASSWORD", "s3cret")).password()).contains("s3cret");
    }

    @Test
    void theSchemaOwnerIsTheMigrationUserElseTheOperatorsOwn() {
        String url = "jdbc:postgresql://db/x";
        assertThat(StoreProducer.schemaOwner(fromEnvironment(Map.of("STREAMHOUSE_DB_USER", "op")), url)).isEqualTo("op");
        assertThat(StoreProducer.schemaOwner(fromEnvironment(Map.of("STREAMHOUSE_DB_USER", "op",
                "STREAMHOUSE_DB_MIGRATION_USER", "owner", "STREAMHOUSE_DB_GRANT_OPERATOR", "op",
                "STREAMHOUSE_DB_GRANT_AGENTS", "agents")), url)).isEqualTo("owner");
    }

    @Test
    void settingsThatWouldNotDoWhatTheySayAreRefused() {
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> StoreProducer.schemaOwner(fromEnvironment(Map.of(
                        "STREAMHOUSE_DB_GRANT_OPERATOR", "op")), "jdbc:postgresql://db/x"))
                .hasMessageContaining("go together");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> StoreProducer.schemaOwner(fromEnvironment(Map.of(
                        "STREAMHOUSE_DB_USER", "op", "STREAMHOUSE_DB_MIGRATION_USER", "owner")),
                        "jdbc:postgresql://db/x?user=someone&password=secret"))
                .hasMessageContaining("names a user (user=someone)").hasMessageNotContaining("secret");
    }

    @Test
    void leaderElectionTimingsUnderWhichTwoReplicasCouldLeadAreRefused() {
        java.time.Duration s10 = java.time.Duration.ofSeconds(10);
        LeaderElection.validate(s10, java.time.Duration.ofSeconds(8), java.time.Duration.ofSeconds(2));
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> LeaderElection.validate(s10, s10, java.time.Duration.ofSeconds(2)))
                .hasMessageContaining("renew-deadline (PT10S) must be less than lease-duration (PT10S)");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> LeaderElection.validate(s10, java.time.Duration.ofSeconds(8),
                java.time.Duration.ofSeconds(8))).hasMessageContaining("retry-period (PT8S) must be less than renew-deadline");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> LeaderElection.validate(s10, java.time.Duration.ofSeconds(8),
                java.time.Duration.ZERO)).hasMessageContaining("must be positive");
    }

    /** A database that cannot be reached or logged in to is told in one line; other failures keep their stack trace. */
    @Test
    void unreachableDatabasesAreToldByTheirOwnWords() {
        var refused = new java.sql.SQLException("Connection to db:5432 refused.", "08001");
        var pool = new java.sql.SQLTransientConnectionException("pool - Connection is not available", "08001", refused);
        assertThat(StoreProducer.unreachable(new RuntimeException("wrapped", pool))).isEqualTo("Connection to db:5432 refused.");
        assertThat(StoreProducer.unreachable(new java.sql.SQLException("password authentication failed for user \"op\"",
                "28P01"))).isEqualTo("password authentication failed for user \"op\"");
        assertThat(StoreProducer.unreachable(new java.sql.SQLTransientConnectionException("pool - timed out")))
                .isEqualTo("pool - timed out");
        assertThat(StoreProducer.unreachable(new RuntimeException(new java.sql.SQLException("permission denied for schema public",
                "42501")))).isNull();
    }
}
