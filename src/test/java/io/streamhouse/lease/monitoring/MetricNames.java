package io.streamhouse.lease.monitoring;

import java.util.LinkedHashSet;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The metric names a PromQL expression selects (this project's families; not functions, labels or keywords). */
final class MetricNames {

    /**
     * Families this project serves or names: its own, the HikariCP tracker's, the Java Operator
     * SDK's; never followed by "(" (that is a function). Label matchers and strings are blanked
     * out first, so a label's name or value is never taken for a metric.
     */
    private static final Pattern NAME = Pattern.compile(
            "\\b((?:streamhouse|hikaricp|reconciliations|jvm|process)_[a-zA-Z0-9_]*)\\b(?!\\s*\\()");

    private MetricNames() {
    }

    static Set<String> in(String expr) {
        Set<String> names = new LinkedHashSet<>();
        Matcher m = NAME.matcher(expr.replaceAll("\"[^\"]*\"", "\"\"").replaceAll("\\{[^}]*}", "{}"));
        while (m.find()) {
            names.add(m.group(1));
        }
        return names;
    }
}
