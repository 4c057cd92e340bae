package io.streamhouse.lease.monitoring;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Draws the dashboard's panels as an SVG from series a real Prometheus returned (Grafana cannot be
 * had here): one small line chart per panel, two columns, time in seconds from the start of the
 * run, and the marked spans (the lease store's outage, say) shaded on every chart. Plain SVG
 * text, so the picture in docs/monitoring.md is made by the project from the test's own data.
 */
final class DashboardPlot {

    record Point(double t, double v) {
    }

    record Series(String name, List<Point> points) {
    }

    record Chart(String title, String unit, List<Series> series) {
    }

    record Span(double from, double to, String label) {
    }

    private static final String[] COLORS = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
        "#e377c2", "#17becf"};
    private static final int W = 520;
    private static final int H = 250;
    private static final int LEFT = 56;
    private static final int RIGHT = 14;
    private static final int TOP = 30;
    private static final int PLOT_H = 150;

    private DashboardPlot() {
    }

    /** The SVG of {@code charts} over [{@code start}, {@code end}] (epoch seconds), with {@code spans} shaded. */
    static String svg(String title, List<Chart> charts, double start, double end, List<Span> spans) {
        int columns = 2;
        int rows = (charts.size() + columns - 1) / columns;
        int width = columns * W;
        int height = 40 + rows * H;
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\""
                + " viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">%n", width, height, width, height));
        s.append(String.format(Locale.ROOT, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>%n", width, height));
        s.append(String.format(Locale.ROOT, "<text x=\"10\" y=\"24\" font-size=\"15\" font-weight=\"bold\">%s</text>%n",
                escape(title)));
        for (int i = 0; i < charts.size(); i++) {
            int x0 = (i % columns) * W;
            int y0 = 40 + (i / columns) * H;
            chart(s, charts.get(i), x0, y0, start, end, spans);
        }
        s.append("</svg>\n");
        return s.toString();
    }

    private static void chart(StringBuilder s, Chart chart, int x0, int y0, double start, double end, List<Span> spans) {
        int plotW = W - LEFT - RIGHT;
        double max = 0;
        for (Series series : chart.series()) {
            for (Point p : series.points()) {
                if (Double.isFinite(p.v())) {
                    max = Math.max(max, p.v());
                }
            }
        }
        max = niceCeiling(max);
        double span = Math.max(end - start, 1);
        int px = x0 + LEFT;
        int py = y0 + TOP;
        s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"12\" font-weight=\"bold\">%s</text>%n",
                px, y0 + 18, escape(chart.title())));
        for (Span sp : spans) {
            double a = px + plotW * (Math.max(sp.from(), start) - start) / span;
            double b = px + plotW * (Math.min(sp.to(), end) - start) / span;
            s.append(String.format(Locale.ROOT, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#f3d6d6\"/>%n",
                    a, py, Math.max(b - a, 1), PLOT_H));
            s.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" fill=\"#a33\" font-size=\"9\">%s</text>%n",
                    a + 2, py + 10, escape(sp.label())));
        }
        s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999\"/>%n",
                px, py, plotW, PLOT_H));
        for (int k = 0; k <= 2; k++) {
            double v = max * k / 2;
            int y = py + PLOT_H - PLOT_H * k / 2;
            s.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#e5e5e5\"/>%n",
                    px, y, px + plotW, y));
            s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>%n",
                    px - 4, y + 4, escape(format(v, chart.unit()))));
        }
        int ticks = 6;
        for (int k = 0; k <= ticks; k++) {
            double t = span * k / ticks;
            int x = px + (int) Math.round(plotW * (double) k / ticks);
            s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">%ds</text>%n",
                    x, py + PLOT_H + 14, Math.round(t)));
        }
        List<String> legend = new ArrayList<>();
        for (int i = 0; i < chart.series().size(); i++) {
            Series series = chart.series().get(i);
            String color = COLORS[i % COLORS.length];
            StringBuilder path = new StringBuilder();
            boolean pen = false;
            for (Point p : series.points()) {
                if (!Double.isFinite(p.v())) {
                    pen = false;
                    continue;
                }
                double x = px + plotW * (p.t() - start) / span;
                double y = py + PLOT_H - (max == 0 ? 0 : PLOT_H * p.v() / max);
                path.append(pen ? " L" : " M").append(String.format(Locale.ROOT, "%.1f %.1f", x, y));
                pen = true;
            }
            if (!path.isEmpty()) {
                s.append(String.format(Locale.ROOT, "<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"/>%n",
                        path.toString().strip(), color));
            }
            legend.add(color + "\u0000" + series.name());
        }
        int lx = px;
        int ly = py + PLOT_H + 30;
        for (String entry : legend) {
            String[] parts = entry.split("\u0000", 2);
            String name = parts[1].length() > 34 ? parts[1].substring(0, 33) + "\u2026" : parts[1];
            int w = 16 + name.length() * 6 + 12;
            if (lx + w > x0 + W - RIGHT) {
                lx = px;
                ly += 14;
            }
            s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>%n",
                    lx, ly - 9, parts[0]));
            s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\">%s</text>%n", lx + 14, ly, escape(name)));
            lx += w;
        }
        if (legend.isEmpty()) {
            s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" fill=\"#777\">no data in this run</text>%n",
                    px + 8, py + PLOT_H / 2));
        }
    }

    /** 1, 2 or 5 times a power of ten, at least {@code v}; 1 for nothing. */
    static double niceCeiling(double v) {
        if (v <= 0) {
            return 1;
        }
        double p = Math.pow(10, Math.floor(Math.log10(v)));
        for (double m : new double[] {1, 2, 5, 10}) {
            if (m * p >= v * 0.999) {
                return m * p;
            }
        }
        return 10 * p;
    }

    static String format(double v, String unit) {
        String n = v == Math.rint(v) && Math.abs(v) < 1e6 ? String.valueOf((long) v)
                : String.format(Locale.ROOT, "%.3g", v);
        return switch (unit) {
            case "s" -> n + " s";
            case "ops" -> n + "/s";
            default -> n;
        };
    }

    private static String escape(String text) {
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }
}
