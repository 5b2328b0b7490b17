/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <string.h>

#include "expo.h"
#include "macro.h"
#include "metrics.h"

#define USEC 1e6

/* A family, declared when its first sample is written: families without data are left out. */
typedef struct Family {
        const char *name;
        ExpoType type;
        const char *help;
} Family;

typedef struct Render {
        Expo expo;
        const Family *current;
} Render;

static void declare(Render *r, const Family *fam) {
        if (r->current == fam)
                return;
        (void) expo_family(&r->expo, fam->name, fam->type, fam->help);
        r->current = fam;
}

static void sample(Render *r, const Family *fam, const char *const *labels, double value) {
        declare(r, fam);
        (void) expo_sample(&r->expo, labels, value);
}

static void sample_u64(Render *r, const Family *fam, const char *const *labels, uint64_t value) {
        declare(r, fam);
        (void) expo_sample_u64(&r->expo, labels, value);
}

/* A field of an object, when it has the right type. */
static bool get_u64(json_t *o, const char *key, uint64_t *ret) {
        json_t *v = json_object_get(o, key);

        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return false;
        *ret = (uint64_t) json_integer_value(v);
        return true;
}

static bool get_number(json_t *o, const char *key, double *ret) {
        json_t *v = json_object_get(o, key);

        if (!json_is_number(v))
                return false;
        *ret = json_number_value(v);
        return true;
}

static const char *get_str(json_t *o, const char *key) {
        json_t *v = json_object_get(o, key);

        return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool get_bool(json_t *o, const char *key, bool *ret) {
        json_t *v = json_object_get(o, key);

        if (!json_is_boolean(v))
                return false;
        *ret = json_is_true(v);
        return true;
}

/* ---- the agent ---- */

static const Family F_UP = { "vpnpolicy_up", EXPO_GAUGE,
        "1 when vpnpolicyd answered this scrape, 0 when it could not be reached or refused." };
static const Family F_BUILD = { "vpnpolicy_build_info", EXPO_GAUGE,
        "Always 1; the labels name the running vpnpolicyd's version and git commit." };
static const Family F_START = { "vpnpolicy_start_time_seconds", EXPO_GAUGE,
        "When vpnpolicyd started, seconds since the Unix epoch." };
static const Family F_HEALTHY = { "vpnpolicy_healthy", EXPO_GAUGE,
        "1 when every wanted object is in the kernel (routes of a tunnel that is down excepted) and every "
        "family a policy has pools of has a gateway that carries it, else 0; as vpnpolicyctl status." };
static const Family F_RESYNC = { "vpnpolicy_resync_pending", EXPO_GAUGE,
        "1 while a full re-read of the kernel's state is due (events were lost)." };
static const Family F_FORWARDING = { "vpnpolicy_forwarding_enabled", EXPO_GAUGE,
        "1 when the kernel forwards this family (at the last check), else 0." };

static void render_agent(Render *r, json_t *j) {
        const char *version = get_str(j, "version"), *commit = get_str(j, "commit");
        json_t *fwd = json_object_get(j, "forwarding");
        uint64_t started;
        bool b;

        sample_u64(r, &F_UP, NULL, 1);
        if (version)
                sample_u64(r, &F_BUILD, (const char *[]) { "version", version, "commit", commit ?: "", NULL },
                           1);
        if (get_u64(j, "started_usec", &started) && started > 0)
                sample(r, &F_START, NULL, (double) started / USEC);
        if (get_bool(j, "healthy", &b))
                sample_u64(r, &F_HEALTHY, NULL, b);
        if (get_bool(j, "resync_pending", &b))
                sample_u64(r, &F_RESYNC, NULL, b);
        for (int i = 0; i < 2; i++)
                if (get_bool(fwd, i ? "ipv6" : "ipv4", &b))
                        sample_u64(r, &F_FORWARDING, (const char *[]) { "family", i ? "ipv6" : "ipv4", NULL },
                                   b);
}

/* ---- objects ---- */

static const Family F_WANTED = { "vpnpolicy_objects_wanted", EXPO_GAUGE,
        "Rules and routes vpnpolicyd wants in the kernel, per policy, role and family." };
static const Family F_PRESENT = { "vpnpolicy_objects_present", EXPO_GAUGE,
        "Wanted rules and routes the kernel holds as wanted." };
static const Family F_MISSING = { "vpnpolicy_objects_missing", EXPO_GAUGE,
        "Wanted rules and routes the kernel does not hold (or holds otherwise), not counting the routes of "
        "tunnels that are down: a fault when above 0 for long." };
static const Family F_WAITING = { "vpnpolicy_objects_waiting", EXPO_GAUGE,
        "Routes of tunnels whose device is down: the kernel refuses them until it comes up; no fault." };
static const Family F_STALE = { "vpnpolicy_objects_stale", EXPO_GAUGE,
        "Rules and routes of ours the kernel holds that are no longer wanted (being removed)." };
static const Family F_FAILING = { "vpnpolicy_objects_failing", EXPO_GAUGE,
        "Wanted rules and routes whose last operation failed (retried with backoff)." };

/* Each object family takes one column of the "objects" entries. */
static void render_object_column(Render *r, json_t *objects, const Family *fam, int column) {
        json_t *o;
        size_t i;

        json_array_foreach(objects, i, o) {
                const char *labels[] = { "policy", get_str(o, "policy"), "role", get_str(o, "role"), "family",
                                         get_str(o, "family"), NULL };
                uint64_t wanted, present, waiting, v;

                if (!labels[1] || !labels[3] || !labels[5] || !get_u64(o, "wanted", &wanted) ||
                    !get_u64(o, "present", &present) || !get_u64(o, "waiting", &waiting) ||
                    present + waiting > wanted)
                        continue;
                v = column == 0 ? wanted :
                    column == 1 ? present :
                    column == 2 ? wanted - present - waiting : waiting;
                sample_u64(r, fam, labels, v);
        }
}

static void render_objects(Render *r, json_t *j) {
        json_t *objects = json_object_get(j, "objects");
        const Family *fams[] = { &F_WANTED, &F_PRESENT, &F_MISSING, &F_WAITING };
        uint64_t v;

        for (int c = 0; c < (int) ELEMENTSOF(fams); c++)
                render_object_column(r, objects, fams[c], c);
        if (get_u64(j, "stale_objects", &v))
                sample_u64(r, &F_STALE, NULL, v);
        if (get_u64(j, "failing_objects", &v))
                sample_u64(r, &F_FAILING, NULL, v);
}

/* ---- tunnels and gateways ---- */

static const Family F_TUNNELS = { "vpnpolicy_managed_tunnels", EXPO_GAUGE,
        "Tunnel devices vpnpolicyd manages, per policy." };
static const Family F_TUNNEL_UP = { "vpnpolicy_tunnel_up", EXPO_GAUGE,
        "1 when the managed tunnel device is up, else 0." };
static const Family F_GW_ACTIVE = { "vpnpolicy_gateway_active", EXPO_GAUGE,
        "1 when the policy's default route of this family goes via this gateway now, else 0." };
static const Family F_GW_UP = { "vpnpolicy_gateway_up", EXPO_GAUGE,
        "1 when the gateway's probes find it up, 0 when down." };
static const Family F_GW_RTT = { "vpnpolicy_gateway_probe_rtt_seconds", EXPO_GAUGE,
        "Round-trip time of the gateway's last answered probe." };
static const Family F_GW_LOSS = { "vpnpolicy_gateway_probe_loss_ratio", EXPO_GAUGE,
        "Share of the gateway's recent probes that got no answer in time, 0 to 1." };
static const Family F_FAILOVERS = { "vpnpolicy_gateway_failovers_total", EXPO_COUNTER,
        "Times the policy's default route moved to another gateway." };

static void render_tunnels(Render *r, json_t *j) {
        json_t *policies = json_object_get(j, "policies"), *o;
        uint64_t v;
        size_t i;
        bool b;

        json_array_foreach(policies, i, o)
                if (get_str(o, "name") && get_u64(o, "tunnels", &v))
                        sample_u64(r, &F_TUNNELS, (const char *[]) { "policy", get_str(o, "name"), NULL }, v);
        json_array_foreach(json_object_get(j, "tunnels"), i, o)
                if (get_str(o, "device") && get_bool(o, "up", &b))
                        sample_u64(r, &F_TUNNEL_UP,
                                   (const char *[]) { "device", get_str(o, "device"),
                                                      "policy", get_str(o, "policy"), NULL }, b);
}

/* One gateway column: "active" and "up" booleans, "probe_rtt_usec" microseconds, "probe_loss_ratio". */
static void render_gateway_column(Render *r, json_t *gateways, const Family *fam, const char *key) {
        json_t *o;
        size_t i;

        json_array_foreach(gateways, i, o) {
                const char *labels[] = { "policy", get_str(o, "policy"), "gateway", get_str(o, "gateway"),
                                         "family", get_str(o, "family"), NULL };
                double d;
                bool b;

                if (!labels[1] || !labels[3] || !labels[5])
                        continue;
                if (get_bool(o, key, &b))
                        sample_u64(r, fam, labels, b);
                else if (get_number(o, key, &d) && d >= 0)
                        sample(r, fam, labels, streq(key, "probe_rtt_usec") ? d / USEC : d);
        }
}

static void render_gateways(Render *r, json_t *j) {
        json_t *gateways = json_object_get(j, "gateways"), *o;
        uint64_t v;
        size_t i;

        render_gateway_column(r, gateways, &F_GW_ACTIVE, "active");
        render_gateway_column(r, gateways, &F_GW_UP, "up");
        render_gateway_column(r, gateways, &F_GW_RTT, "probe_rtt_usec");
        render_gateway_column(r, gateways, &F_GW_LOSS, "probe_loss_ratio");
        json_array_foreach(json_object_get(j, "policies"), i, o)
                if (get_str(o, "name") && get_u64(o, "failovers", &v))
                        sample_u64(r, &F_FAILOVERS, (const char *[]) { "policy", get_str(o, "name"), NULL }, v);
}

/* ---- counters ---- */

typedef struct CounterDef {
        const char *key;        /* in the reply's "counters" */
        Family family;
} CounterDef;

static const CounterDef counters[] = {
        { "restores", { "vpnpolicy_restores_total", EXPO_COUNTER,
          "Wanted objects put back after someone else deleted or changed them." } },
        { "restore_throttled", { "vpnpolicy_restores_throttled_total", EXPO_COUNTER,
          "Restores held back by the rate limit (a deletion fight)." } },
        { "resyncs", { "vpnpolicy_resyncs_total", EXPO_COUNTER,
          "Full re-reads of the kernel's state (after lost events or errors)." } },
        { "overruns", { "vpnpolicy_netlink_overruns_total", EXPO_COUNTER,
          "Netlink event socket overruns (ENOBUFS): events were lost, a resync follows." } },
        { "netlink_errors", { "vpnpolicy_netlink_errors_total", EXPO_COUNTER,
          "Failed netlink dumps and requests other than refused operations." } },
        { "operations", { "vpnpolicy_operations_total", EXPO_COUNTER,
          "Rule and route operations sent to the kernel." } },
        { "failed_operations", { "vpnpolicy_failed_operations_total", EXPO_COUNTER,
          "Rule and route operations the kernel refused." } },
        { "reconcile_passes", { "vpnpolicy_reconcile_rounds_total", EXPO_COUNTER,
          "Rounds of the reconcile pass (derive, send, follow up)." } },
        { "reloads", { "vpnpolicy_reloads_total", EXPO_COUNTER, "Configuration reloads asked for." } },
        { "reload_failures", { "vpnpolicy_reload_failures_total", EXPO_COUNTER,
          "Configuration reloads refused (the old configuration stayed in force)." } },
        { "verifications", { "vpnpolicy_verifications_total", EXPO_COUNTER,
          "Periodic full verifications (re-reads of our tables and rules)." } },
        { "verify_repairs", { "vpnpolicy_verify_repairs_total", EXPO_COUNTER,
          "Differences the verifications found between the kernel and vpnpolicyd's view." } },
        { "confirms", { "vpnpolicy_confirms_total", EXPO_COUNTER,
          "Dumps confirming the routes via a device after it changed." } },
        { "clashes", { "vpnpolicy_clashes_total", EXPO_COUNTER,
          "Claims refused because an object of higher precedence holds the same kernel identity." } },
        { "firewall_restores", { "vpnpolicy_firewall_restores_total", EXPO_COUNTER,
          "Times the nftables table was put back after someone else changed it." } },
        { "firewall_errors", { "vpnpolicy_firewall_errors_total", EXPO_COUNTER,
          "Failed updates of the nftables table." } },
};

static void render_counters(Render *r, json_t *j) {
        json_t *c = json_object_get(j, "counters");
        uint64_t v;

        for (size_t i = 0; i < ELEMENTSOF(counters); i++)
                if (get_u64(c, counters[i].key, &v))
                        sample_u64(r, &counters[i].family, NULL, v);
}

/* ---- timing ---- */

static const Family F_PASS = { "vpnpolicy_reconcile_duration_seconds", EXPO_HISTOGRAM,
        "Duration of the reconcile passes that had work to do." };
static const Family F_VERIFY_AT = { "vpnpolicy_last_verification_timestamp_seconds", EXPO_GAUGE,
        "When the last full verification finished, seconds since the Unix epoch (absent before the first)." };
static const Family F_VERIFY_DURATION = { "vpnpolicy_last_verification_duration_seconds", EXPO_GAUGE,
        "How long the last full verification took." };

#define HISTOGRAM_BOUNDS_MAX 32

static void render_histogram(Render *r, json_t *h) {
        json_t *bounds = json_object_get(h, "bounds_usec"), *counts = json_object_get(h, "counts");
        double b[HISTOGRAM_BOUNDS_MAX];
        uint64_t c[HISTOGRAM_BOUNDS_MAX], count, sum;
        size_t n = json_array_size(bounds);

        if (n == 0 || n > HISTOGRAM_BOUNDS_MAX || json_array_size(counts) != n ||
            !get_u64(h, "count", &count) || !get_u64(h, "sum_usec", &sum))
                return;
        for (size_t i = 0; i < n; i++) {
                json_t *bi = json_array_get(bounds, i), *ci = json_array_get(counts, i);

                if (!json_is_integer(bi) || !json_is_integer(ci) || json_integer_value(ci) < 0)
                        return;
                b[i] = (double) json_integer_value(bi) / USEC;
                c[i] = (uint64_t) json_integer_value(ci);
        }
        declare(r, &F_PASS);
        (void) expo_histogram(&r->expo, NULL, b, c, n, count, (double) sum / USEC);
}

static void render_timing(Render *r, json_t *j) {
        uint64_t v;

        render_histogram(r, json_object_get(j, "reconcile_duration"));
        if (get_u64(j, "last_verify_usec", &v))
                sample(r, &F_VERIFY_AT, NULL, (double) v / USEC);
        if (get_u64(j, "last_verify_duration_usec", &v))
                sample(r, &F_VERIFY_DURATION, NULL, (double) v / USEC);
}

/* ---- the firewall ---- */

static const Family F_FW_MANAGED = { "vpnpolicy_firewall_managed", EXPO_GAUGE,
        "1 when vpnpolicyd keeps its nftables table ([Firewall] Manage=yes), else 0." };
static const Family F_FW_PRESENT = { "vpnpolicy_firewall_table_present", EXPO_GAUGE,
        "1 when the nftables table inet vpnpolicy exists, else 0." };
static const Family F_LEAK_PACKETS = { "vpnpolicy_leak_guard_dropped_packets_total", EXPO_COUNTER,
        "Pool packets the leak guard dropped: they tried to leave by a device other than the gateway's or "
        "a managed tunnel." };
static const Family F_LEAK_BYTES = { "vpnpolicy_leak_guard_dropped_bytes_total", EXPO_COUNTER,
        "Bytes of the pool packets the leak guard dropped." };

typedef struct PoolColumn {
        const char *key;
        Family family;
} PoolColumn;

static const PoolColumn pool_columns[] = {
        { "out_packets", { "vpnpolicy_pool_out_packets_total", EXPO_COUNTER,
          "Forwarded packets from the pool's addresses (the clients' traffic out)." } },
        { "out_bytes", { "vpnpolicy_pool_out_bytes_total", EXPO_COUNTER,
          "Bytes of the forwarded packets from the pool's addresses." } },
        { "in_packets", { "vpnpolicy_pool_in_packets_total", EXPO_COUNTER,
          "Forwarded packets to the pool's addresses (the clients' traffic in)." } },
        { "in_bytes", { "vpnpolicy_pool_in_bytes_total", EXPO_COUNTER,
          "Bytes of the forwarded packets to the pool's addresses." } },
};

static void render_pools(Render *r, json_t *pools) {
        json_t *p;
        uint64_t v;
        size_t i;

        for (size_t c = 0; c < ELEMENTSOF(pool_columns); c++)
                json_array_foreach(pools, i, p)
                        if (get_str(p, "prefix") && get_u64(p, pool_columns[c].key, &v))
                                sample_u64(r, &pool_columns[c].family,
                                           (const char *[]) { "policy", get_str(p, "policy"), "pool",
                                                              get_str(p, "prefix"), NULL }, v);
}

static void render_firewall(Render *r, json_t *j) {
        json_t *fw = json_object_get(j, "firewall"), *drops;
        uint64_t v;
        bool b;

        if (!fw || !(json_is_null(fw) || json_is_object(fw)))
                return;
        sample_u64(r, &F_FW_MANAGED, NULL, json_is_object(fw));
        if (get_bool(fw, "present", &b))
                sample_u64(r, &F_FW_PRESENT, NULL, b);
        render_pools(r, json_object_get(fw, "pools"));
        drops = json_object_get(fw, "leak_guard_drops");
        if (get_u64(drops, "packets", &v))
                sample_u64(r, &F_LEAK_PACKETS, NULL, v);
        if (get_u64(drops, "bytes", &v))
                sample_u64(r, &F_LEAK_BYTES, NULL, v);
}

int metrics_render(FILE *f, json_t *reply) {
        Render r = {};

        if (!json_is_object(reply))
                return -EINVAL;
        expo_init(&r.expo, f);
        render_agent(&r, reply);
        render_objects(&r, reply);
        render_tunnels(&r, reply);
        render_gateways(&r, reply);
        render_counters(&r, reply);
        render_timing(&r, reply);
        render_firewall(&r, reply);
        return expo_finish(&r.expo);
}

int metrics_render_down(FILE *f) {
        Render r = {};

        expo_init(&r.expo, f);
        sample_u64(&r, &F_UP, NULL, 0);
        return expo_finish(&r.expo);
}
