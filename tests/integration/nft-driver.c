/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nft-driver: runs agent/nft.c on its own, for the test-fw-*.sh integration tests.
 *
 *   nft-driver apply    [SPEC]   make the table match SPEC; prints "changed=0|1"
 *   nft-driver watch    [SPEC]   apply, print "ready changed=N", then re-apply whenever the table is
 *                                changed by others, printing "reapplied changed=N gap_us=US" (US: from the
 *                                first change event to the end of the re-apply) until SIGTERM or SIGINT
 *   nft-driver counters [SPEC]   apply, then print nft_counters()'s JSON on one line
 *   nft-driver remove            delete the table; prints "removed=0|1"
 *
 * SPEC: [--policy NAME] --pool PREFIX --tunnel DEV --gateway DEV --gw NAME=ADDR (each repeatable)
 *       ... [--policy NAME2 ...] --leak-guard yes|no --masquerade yes|no --priority N
 *       --pool, --tunnel, --gateway (a gateway device) and --gw (a gateway's counter, by its next hop; the
 *       same NAME again adds its other family) belong to the policy named last, "vpn" before any --policy.
 * Exit status: 0 success, 1 failure (with the error on stderr), 2 usage.
 */

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include "addr.h"
#include "nft.h"
#include "parse-util.h"

#define POLICIES_MAX 8
#define POOLS_MAX 64
#define GATEWAYS_MAX 8
#define DEVICES_MAX 8
#define TUNNELS_MAX 1024

typedef struct DriverPolicy {
        char name[64];
        Prefix pools[POOLS_MAX];
        NftGateway gateways[GATEWAYS_MAX];
        char gateway_names[GATEWAYS_MAX][64];
        char devices[DEVICES_MAX][IFNAMSIZ];
        char tunnels[TUNNELS_MAX][IFNAMSIZ];
} DriverPolicy;

typedef struct Driver {
        NftSpec spec;
        NftPolicy policies[POLICIES_MAX];
        DriverPolicy store[POLICIES_MAX];
        Nft *nft;
        sd_event *event;
        sd_event_source *defer;
        uint64_t changed_at_us; /* first change event since the last apply, 0 if none */
} Driver;

static uint64_t now_us(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000U + (uint64_t) ts.tv_nsec / 1000U;
}

static int usage(const char *what) {
        fprintf(stderr, "nft-driver: %s (see the comment at the top of nft-driver.c)\n", what);
        return 2;
}

static int policy_start(Driver *d, const char *name) {
        size_t i = d->spec.n_policies;

        if (i >= POLICIES_MAX || strlen(name) >= sizeof(d->store[i].name))
                return -EINVAL;
        snprintf(d->store[i].name, sizeof(d->store[i].name), "%s", name);
        d->policies[i] = (NftPolicy) {
                .name = d->store[i].name,
                .pools = d->store[i].pools,
                .gateways = d->store[i].gateways,
                .devices = d->store[i].devices,
                .tunnels = d->store[i].tunnels,
        };
        d->spec.n_policies++;
        return 0;
}

/* The policy named last; "vpn" if none was. */
static NftPolicy *policy_current(Driver *d, DriverPolicy **ret_store) {
        if (d->spec.n_policies == 0 && policy_start(d, "vpn") < 0)
                return NULL;
        *ret_store = &d->store[d->spec.n_policies - 1];
        return &d->policies[d->spec.n_policies - 1];
}

/* NAME=ADDR: a gateway's counter, a new one or the other family of one named before. */
static int parse_gw(NftPolicy *p, DriverPolicy *st, const char *arg) {
        const char *eq = strchr(arg, '=');
        NftGateway *g = NULL;
        InAddrUnion a;
        int family;

        if (!eq || (size_t) (eq - arg) >= sizeof(st->gateway_names[0]) ||
            addr_parse(AF_UNSPEC, eq + 1, &family, &a) < 0)
                return -EINVAL;
        for (size_t i = 0; i < p->n_gateways && !g; i++)
                if (strncmp(st->gateway_names[i], arg, (size_t) (eq - arg)) == 0 && !st->gateway_names[i][eq - arg])
                        g = &st->gateways[i];
        if (!g) {
                if (p->n_gateways >= GATEWAYS_MAX)
                        return -EINVAL;
                g = &st->gateways[p->n_gateways];
                memcpy(st->gateway_names[p->n_gateways], arg, (size_t) (eq - arg));
                g->name = st->gateway_names[p->n_gateways++];
        }
        if (family == AF_INET)
                g->has_ipv4 = true, g->ipv4 = a;
        else
                g->has_ipv6 = true, g->ipv6 = a;
        return 0;
}

static int parse_ifname(char (*names)[IFNAMSIZ], size_t *n, size_t max, const char *arg) {
        if (*n >= max || !ifname_valid(arg))
                return -EINVAL;
        memcpy(names[(*n)++], arg, strlen(arg) + 1);
        return 0;
}

static int parse_policy_option(Driver *d, int c, const char *arg) {
        DriverPolicy *st;
        NftPolicy *p = policy_current(d, &st);

        if (!p)
                return -EINVAL;
        switch (c) {
        case 'p':
                if (p->n_pools >= POOLS_MAX || prefix_parse(arg, &st->pools[p->n_pools]) < 0)
                        return -EINVAL;
                p->n_pools++;
                return 0;
        case 't':
                return parse_ifname(st->tunnels, &p->n_tunnels, TUNNELS_MAX, arg);
        case 'g':
                return parse_ifname(st->devices, &p->n_devices, DEVICES_MAX, arg);
        case 'G':
                return parse_gw(p, st, arg);
        default:
                return -EINVAL;
        }
}

static int parse_option(Driver *d, int c, const char *arg) {
        uint32_t u;
        bool b;

        switch (c) {
        case 'n':
                return policy_start(d, arg);
        case 'l':
        case 'm':
                if (parse_bool(arg, &b) < 0)
                        return -EINVAL;
                *(c == 'l' ? &d->spec.leak_guard : &d->spec.masquerade) = b;
                return 0;
        case 'P':
                if (parse_u32(arg, &u) < 0 || u > 10000)
                        return -EINVAL;
                d->spec.priority = (int32_t) u;
                return 0;
        default:
                return parse_policy_option(d, c, arg);
        }
}

static int parse_args(Driver *d, int argc, char **argv) {
        static const struct option options[] = {
                { "pool", required_argument, NULL, 'p' },       { "tunnel", required_argument, NULL, 't' },
                { "gateway", required_argument, NULL, 'g' },    { "leak-guard", required_argument, NULL, 'l' },
                { "masquerade", required_argument, NULL, 'm' }, { "priority", required_argument, NULL, 'P' },
                { "policy", required_argument, NULL, 'n' },     { "gw", required_argument, NULL, 'G' },
                {},
        };
        int c;

        d->spec.policies = d->policies;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                if (parse_option(d, c, optarg) < 0)
                        return -EINVAL;
        if (optind != argc)
                return -EINVAL;
        return d->spec.n_policies > 0 || policy_start(d, "vpn") >= 0 ? 0 : -EINVAL;
}

static int fail(Driver *d, const char *what, int r) {
        const char *ext = d->nft ? nft_last_error(d->nft) : NULL;

        fprintf(stderr, "nft-driver: %s: %s%s%s\n", what, strerror(-r), ext ? ": " : "", ext ? ext : "");
        return 1;
}

static int on_defer(sd_event_source *s, void *userdata) {
        Driver *d = userdata;
        uint64_t t0 = d->changed_at_us;
        int r;

        (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        d->changed_at_us = 0;
        r = nft_apply(d->nft, &d->spec);
        if (r < 0) {
                (void) fail(d, "re-apply", r);
                return sd_event_exit(d->event, 1);
        }
        printf("reapplied changed=%d gap_us=%llu\n", r, (unsigned long long) (now_us() - t0));
        fflush(stdout);
        return 0;
}

/* What the manager does: note the change, re-apply from a deferred source (coalescing a burst). */
static void on_changed(void *userdata) {
        Driver *d = userdata;

        if (d->changed_at_us == 0)
                d->changed_at_us = now_us();
        (void) sd_event_source_set_enabled(d->defer, SD_EVENT_ONESHOT);
}

static int watch(Driver *d) {
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return fail(d, "sigprocmask", -errno);
        r = sd_event_default(&d->event);
        if (r >= 0)
                r = sd_event_add_signal(d->event, NULL, SIGTERM, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(d->event, NULL, SIGINT, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_defer(d->event, &d->defer, on_defer, d);
        if (r >= 0)
                r = sd_event_source_set_enabled(d->defer, SD_EVENT_OFF);
        if (r >= 0)
                r = nft_new(d->event, on_changed, d, &d->nft);
        if (r < 0)
                return fail(d, "setup", r);
        r = nft_apply(d->nft, &d->spec);
        if (r < 0)
                return fail(d, "apply", r);
        printf("ready changed=%d\n", r);
        fflush(stdout);
        r = sd_event_loop(d->event);
        return r < 0 ? fail(d, "event loop", r) : r;
}

static int once(Driver *d, const char *verb) {
        json_t *j = NULL;
        int r;

        r = nft_new(NULL, NULL, NULL, &d->nft);
        if (r < 0)
                return fail(d, "setup", r);
        if (streq(verb, "remove")) {
                r = nft_remove(d->nft);
                if (r < 0)
                        return fail(d, "remove", r);
                printf("removed=%d\n", r);
                return 0;
        }
        r = nft_apply(d->nft, &d->spec);
        if (r < 0)
                return fail(d, "apply", r);
        if (streq(verb, "apply")) {
                printf("changed=%d\n", r);
                return 0;
        }
        r = nft_counters(d->nft, &j);
        if (r < 0)
                return fail(d, "counters", r);
        json_dumpf(j, stdout, JSON_COMPACT | JSON_SORT_KEYS);
        putchar('\n');
        json_decref(j);
        return 0;
}

int main(int argc, char **argv) {
        static Driver d;
        const char *verb;
        int r;

        if (argc < 2)
                return usage("missing command");
        verb = argv[1];
        if (parse_args(&d, argc - 1, argv + 1) < 0)
                return usage("bad arguments");
        if (streq(verb, "watch"))
                r = watch(&d);
        else if (streq(verb, "apply") || streq(verb, "counters") || streq(verb, "remove"))
                r = once(&d, verb);
        else
                return usage("unknown command");
        sd_event_source_unref(d.defer);
        nft_free(d.nft);
        sd_event_unref(d.event);
        return r;
}
