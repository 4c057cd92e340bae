package io.streamhouse.lease.store;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * A PostgreSQL server started in-process from bundled binaries, for local runs, demos and tests.
 * Never for production: one process, no replication, no backups.
 */
public final class LocalPostgres implements AutoCloseable {

    private final EmbeddedPostgres postgres;
    private final Path dataDirectory;

    private LocalPostgres(EmbeddedPostgres postgres, Path dataDirectory) {
        this.postgres = postgres;
        this.dataDirectory = dataDirectory;
    }

    /**
     * Starts a server keeping its data in {@code dataDirectory} (kept across restarts) or, when
     * null, in a temporary directory removed on close.
     */
    public static LocalPostgres start(Path dataDirectory) {
        return start(dataDirectory, Map.of());
    }

    /** As {@link #start(Path)}, with extra server settings (postgresql.conf names). */
    public static LocalPostgres start(Path dataDirectory, Map<String, String> serverConfig) {
        return start(dataDirectory, serverConfig, 0);
    }

    /** As above, on {@code port} (0: any free one); a restart on the same data and port keeps every URL valid. */
    public static LocalPostgres start(Path dataDirectory, Map<String, String> serverConfig, int port) {
        return start(dataDirectory, serverConfig, port, true);
    }

    /**
     * As above; {@code stopOnJvmExit} false leaves stopping to the caller's {@link #close()}, for
     * an application that must stop its own work before its database goes.
     */
    public static LocalPostgres start(Path dataDirectory, Map<String, String> serverConfig, int port,
                                      boolean stopOnJvmExit) {
        try {
            EmbeddedPostgres.Builder builder = EmbeddedPostgres.builder()
                    // fsync off: local use only, and it keeps tests fast on a slow shared disk.
                    // A crash of PostgreSQL itself still loses nothing it acknowledged (the OS
                    // holds the WAL); only a machine crash could. synchronous_commit is set on
                    // explicitly: the embedded server's own default is off, which would let a
                    // PostgreSQL crash lose acknowledged commits (an epoch handed out twice).
                    .setServerConfig("fsync", "off")
                    .setServerConfig("synchronous_commit", "on")
                    .setServerConfig("max_connections", "200")
                    .setRegisterShutdownHook(stopOnJvmExit);
            serverConfig.forEach(builder::setServerConfig);
            if (port > 0) {
                builder.setPort(port);
            }
            if (dataDirectory != null) {
                Files.createDirectories(dataDirectory);
                builder.setDataDirectory(dataDirectory).setCleanDataDirectory(false);
            }
            return new LocalPostgres(builder.start(), dataDirectory);
        } catch (IOException e) {
            throw new UncheckedIOException("could not start the embedded PostgreSQL"
                    + (dataDirectory == null ? "" : " in " + dataDirectory) + ": " + e.getMessage(), e);
        }
    }

    public String jdbcUrl(String database) {
        return postgres.getJdbcUrl("postgres", database);
    }

    public int port() {
        return postgres.getPort();
    }

    public Path dataDirectory() {
        return dataDirectory;
    }

    @Override
    public void close() {
        try {
            postgres.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
