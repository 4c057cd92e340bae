package io.streamhouse.lease.model;

import java.util.regex.Pattern;

/**
 * Validation of every name that reaches the lease store or a Kubernetes label.
 *
 * <p>Limits match the schema (V1__lease_store.sql) and Kubernetes: agent ids, groups and zones
 * become label values, so they follow label-value syntax (at most 63 characters). Topics follow
 * the usual streaming-system rule (letters, digits, '.', '_', '-', at most 249). Anything else,
 * SQL metacharacters included, is refused before a statement is built.
 */
public final class Names {

    public static final int MAX_TOPIC = 249;
    public static final int MAX_LABEL_VALUE = 63;
    public static final int MAX_ADDRESS = 255;
    public static final int MAX_REASON = 63;

    private static final Pattern TOPIC = Pattern.compile("[A-Za-z0-9._-]+");
    private static final Pattern LABEL_VALUE =
            Pattern.compile("[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?");
    // host:port, DNS names, IPv4/IPv6 literals, or a URL: no whitespace, quotes or semicolons.
    private static final Pattern ADDRESS = Pattern.compile("[A-Za-z0-9._:/\\[\\]%@+-]*");
    private static final Pattern DATABASE_USER = Pattern.compile("[A-Za-z0-9_.@-]+");

    private Names() {
    }

    public static String topic(String topic) {
        requireNonBlank("topic", topic);
        requireMax("topic", topic, MAX_TOPIC);
        if (!TOPIC.matcher(topic).matches()) {
            throw new IllegalArgumentException("topic '" + printable(topic)
                    + "' may contain only letters, digits, '.', '_' and '-'");
        }
        return topic;
    }

    public static int partition(int partition) {
        if (partition < 0) {
            throw new IllegalArgumentException("partition must be >= 0, got " + partition);
        }
        return partition;
    }

    /** Agent ids, groups and zones: Kubernetes label-value syntax. */
    public static String labelValue(String what, String value) {
        requireNonBlank(what, value);
        requireMax(what, value, MAX_LABEL_VALUE);
        if (!LABEL_VALUE.matcher(value).matches()) {
            throw new IllegalArgumentException(what + " '" + printable(value)
                    + "' must start and end with a letter or digit and contain only letters,"
                    + " digits, '.', '_' and '-'");
        }
        return value;
    }

    /** A zone may be empty (agent outside any zone); otherwise label-value syntax. */
    public static String zone(String zone) {
        if (zone == null || zone.isEmpty()) {
            return "";
        }
        return labelValue("zone", zone);
    }

    public static String address(String address) {
        if (address == null || address.isEmpty()) {
            return "";
        }
        requireMax("address", address, MAX_ADDRESS);
        if (!ADDRESS.matcher(address).matches()) {
            throw new IllegalArgumentException("address '" + printable(address)
                    + "' must be host:port or a URL without spaces, quotes or ';'");
        }
        return address;
    }

    /**
     * A PostgreSQL login name an agent may be mapped to: 1-63 characters (PostgreSQL's limit, in
     * bytes, hence ASCII only) of letters, digits, '_', '-', '.' and '@'.
     */
    public static String databaseUser(String user) {
        requireNonBlank("database user", user);
        requireMax("database user", user, MAX_LABEL_VALUE);
        if (!DATABASE_USER.matcher(user).matches()) {
            throw new IllegalArgumentException("database user '" + printable(user)
                    + "' may only have letters, digits, '_', '-', '.' and '@'");
        }
        return user;
    }

    public static String reason(String reason) {
        return labelValue("reason", reason);
    }

    private static void requireNonBlank(String what, String value) {
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException(what + " must not be blank");
        }
    }

    private static void requireMax(String what, String value, int max) {
        if (value.length() > max) {
            throw new IllegalArgumentException(what + " must be at most " + max
                    + " characters, got " + value.length());
        }
    }

    // Keeps error messages readable (and log-safe) when the bad input is long or has control chars.
    private static String printable(String value) {
        String cut = value.length() > 80 ? value.substring(0, 80) + "..." : value;
        return cut.replaceAll("\\p{Cntrl}", "?");
    }
}
