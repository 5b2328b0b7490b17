/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lib/metrics.c: GetMetrics replies (the files in tests/unit/metrics/) in the exposition format. Families
 * without data are left out; fields of the wrong type are skipped, never made up; label values are
 * escaped. "test-metrics --print FILE" prints the rendering of a reply, for promtool
 * (test-metrics-promtool.sh). */
#include <stdio.h>
#include <stdlib.h>

#include "macro.h"
#include "metrics.h"
#include "tests.h"

static char *render_json(json_t *j, int *ret_r) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        ASSERT(f);
        *ret_r = j ? metrics_render(f, j) : metrics_render_down(f);
        ASSERT(fclose(f) == 0);
        return text;
}

static json_t *load(const char *name) {
        char path[512];
        json_error_t err;
        json_t *j;

        snprintf(path, sizeof(path), "%s/tests/unit/metrics/%s", getenv("SOURCE_ROOT") ?: ".", name);
        j = json_load_file(path, 0, &err);
        if (!j)
                fprintf(stderr, "%s:%d: %s\n", path, err.line, err.text);
        ASSERT(j);
        return j;
}

static char *render_file(const char *name) {
        json_t *j = load(name);
        int r;
        char *text = render_json(j, &r);

        json_decref(j);
        ASSERT_INT(r, 0);
        return text;
}

static void has_line(const char *text, const char *line) {
        char *pat;

        ASSERT(asprintf(&pat, "\n%s\n", line) > 0);
        if (!strstr(text, pat) && strncmp(text, pat + 1, strlen(pat + 1)) != 0) {
                fprintf(stderr, "missing line: %s\n--- output:\n%s", line, text);
                ASSERT(false);
        }
        free(pat);
}

static void lacks(const char *text, const char *s) {
        if (strstr(text, s)) {
                fprintf(stderr, "unexpected: %s\n--- output:\n%s", s, text);
                ASSERT(false);
        }
}

static void test_down(void) {
        int r;
        _cleanup_(freep) char *text = render_json(NULL, &r);

        ASSERT_INT(r, 0);
        ASSERT_STREQ(text, "# HELP vpnpolicy_up 1 when vpnpolicyd answered this scrape, 0 when it could not be "
                           "reached or refused.\n# TYPE vpnpolicy_up gauge\nvpnpolicy_up 0\n");
}

static void test_gateway_down(void) {
        _cleanup_(freep) char *t = render_file("gateway-down.json");

        has_line(t, "vpnpolicy_up 1");
        has_line(t, "vpnpolicy_build_info{version=\"0.1.0\",commit=\"0123456789ab\"} 1");
        has_line(t, "vpnpolicy_start_time_seconds 1767225600.123456");
        has_line(t, "vpnpolicy_healthy 0");
        has_line(t, "vpnpolicy_objects_missing{policy=\"staff\",role=\"default-route\",family=\"ipv4\"} 1");
        has_line(t, "vpnpolicy_objects_missing{policy=\"staff\",role=\"tun-route\",family=\"ipv4\"} 0");
        has_line(t, "vpnpolicy_objects_waiting{policy=\"staff\",role=\"tun-route\",family=\"ipv4\"} 2");
        has_line(t, "vpnpolicy_objects_wanted{policy=\"guest\",role=\"source-rule\",family=\"ipv6\"} 1");
        has_line(t, "vpnpolicy_objects_failing 1");
        has_line(t, "vpnpolicy_managed_tunnels{policy=\"guest\"} 0");
        has_line(t, "vpnpolicy_tunnel_up{device=\"tun\\\"1\",policy=\"staff\"} 0");
        has_line(t, "vpnpolicy_gateway_active{policy=\"guest\",gateway=\"gateway\",family=\"ipv6\"} 1");
        has_line(t, "vpnpolicy_gateway_up{policy=\"staff\",gateway=\"nat-a\",family=\"ipv4\"} 0");
        has_line(t, "vpnpolicy_gateway_up{policy=\"staff\",gateway=\"nat-b\",family=\"ipv4\"} 0");
        has_line(t, "vpnpolicy_gateway_probe_rtt_seconds{policy=\"staff\",gateway=\"nat-b\",family=\"ipv4\"} 0.0025");
        has_line(t, "vpnpolicy_gateway_probe_loss_ratio{policy=\"staff\",gateway=\"nat-b\",family=\"ipv4\"} 0.3");
        has_line(t, "vpnpolicy_gateway_probe_loss_ratio{policy=\"staff\",gateway=\"nat-a\",family=\"ipv4\"} 1");
        /* nat-a has no RTT (never answered): no sample, not a zero. */
        lacks(t, "vpnpolicy_gateway_probe_rtt_seconds{policy=\"staff\",gateway=\"nat-a\"");
        has_line(t, "vpnpolicy_gateway_failovers_total{policy=\"staff\"} 3");
        has_line(t, "vpnpolicy_restores_total 7");
        has_line(t, "vpnpolicy_restores_throttled_total 2");
        has_line(t, "vpnpolicy_netlink_overruns_total 1");
        has_line(t, "vpnpolicy_reconcile_duration_seconds_bucket{le=\"0.00025\"} 4");
        has_line(t, "vpnpolicy_reconcile_duration_seconds_bucket{le=\"1\"} 6");
        has_line(t, "vpnpolicy_reconcile_duration_seconds_bucket{le=\"+Inf\"} 7");
        has_line(t, "vpnpolicy_reconcile_duration_seconds_sum 4.1");
        has_line(t, "vpnpolicy_reconcile_duration_seconds_count 7");
        has_line(t, "vpnpolicy_last_verification_timestamp_seconds 1767225660");
        has_line(t, "vpnpolicy_last_verification_duration_seconds 0.00085");
        has_line(t, "vpnpolicy_firewall_managed 1");
        has_line(t, "vpnpolicy_firewall_table_present 1");
        has_line(t, "vpnpolicy_pool_out_bytes_total{policy=\"staff\",pool=\"10.10.10.0/24\"} 840");
        has_line(t, "vpnpolicy_pool_in_packets_total{policy=\"staff\",pool=\"10.10.10.0/24\"} 9");
        has_line(t, "vpnpolicy_leak_guard_dropped_packets_total 5");
        has_line(t, "vpnpolicy_leak_guard_dropped_bytes_total 420");
        /* One HELP and TYPE per family. */
        const char *p = t;
        unsigned n = 0;
        while ((p = strstr(p, "# TYPE vpnpolicy_objects_missing ")))
                n++, p++;
        ASSERT_INT(n, 1);
}

static void test_no_firewall(void) {
        _cleanup_(freep) char *t = render_file("no-firewall.json");

        has_line(t, "vpnpolicy_firewall_managed 0");
        has_line(t, "vpnpolicy_build_info{version=\"0.1.0\",commit=\"\"} 1");
        has_line(t, "vpnpolicy_forwarding_enabled{family=\"ipv6\"} 0");
        has_line(t, "vpnpolicy_reconcile_duration_seconds_count 0");
        /* Not there: no made-up values. */
        lacks(t, "vpnpolicy_firewall_table_present");
        lacks(t, "vpnpolicy_pool_");
        lacks(t, "vpnpolicy_leak_guard");
        lacks(t, "vpnpolicy_last_verification");
        lacks(t, "vpnpolicy_gateway_up");
        lacks(t, "vpnpolicy_gateway_probe");
        lacks(t, "vpnpolicy_gateway_failovers_total");
        lacks(t, "vpnpolicy_tunnel_up");
        lacks(t, "vpnpolicy_resyncs_total");    /* not in this reply's counters */
}

/* Junk from a confused or newer daemon: wrong types are skipped, counts that do not add up too. */
static void test_wrong_types(void) {
        json_t *j = json_loads("{\"version\": 3, \"started_usec\": \"x\", \"healthy\": 1,"
                               " \"objects\": [{\"policy\": \"p\", \"role\": \"r\", \"family\": \"ipv4\","
                               "   \"wanted\": 1, \"present\": 2, \"waiting\": 0},"
                               "  {\"policy\": \"p\", \"role\": \"r\", \"family\": \"ipv4\", \"wanted\": -1,"
                               "   \"present\": 0, \"waiting\": 0}, 7, null],"
                               " \"tunnels\": {\"device\": \"x\"}, \"counters\": {\"restores\": 1.5},"
                               " \"firewall\": 3, \"reconcile_duration\": {\"bounds_usec\": [1], \"counts\": [1, 2],"
                               "   \"count\": 3, \"sum_usec\": 1}}", 0, NULL);
        int r;

        ASSERT(j);
        _cleanup_(freep) char *t = render_json(j, &r);
        json_decref(j);
        ASSERT_INT(r, 0);
        ASSERT_STREQ(t, "# HELP vpnpolicy_up 1 when vpnpolicyd answered this scrape, 0 when it could not be "
                        "reached or refused.\n# TYPE vpnpolicy_up gauge\nvpnpolicy_up 1\n");
}

static void test_not_object(void) {
        json_t *j = json_array();
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        ASSERT_INT(metrics_render(f, j), -EINVAL);
        ASSERT(fclose(f) == 0);
        ASSERT_STREQ(text, "");
        free(text);
        json_decref(j);
}

int main(int argc, char *argv[]) {
        if (argc == 3 && streq(argv[1], "--print")) {
                json_t *j = json_load_file(argv[2], 0, NULL);
                int r;

                if (!j)
                        return 2;
                r = metrics_render(stdout, j);
                json_decref(j);
                return r < 0 ? 1 : 0;
        }
        RUN(test_down);
        RUN(test_gateway_down);
        RUN(test_no_firewall);
        RUN(test_wrong_types);
        RUN(test_not_object);
        TESTS_DONE();
}
