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
 * SPEC: --pool PREFIX (repeatable) --tunnel DEV (repeatable) --gateway DEV --leak-guard yes|no
 *       --masquerade yes|no --priority N
 * Exit status: 0 success, 1 failure (with the error on stderr), 2 usage.
 */

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include "addr.h"
#include "nft.h"
#include "parse-util.h"

#define POOLS_MAX 64
#define TUNNELS_MAX 1024

typedef struct Driver {
        NftSpec spec;
        Prefix pools[POOLS_MAX];
        char tunnels[TUNNELS_MAX][IFNAMSIZ];
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

static int parse_option(Driver *d, int c, const char *arg) {
        uint32_t u;
        bool b;

        switch (c) {
        case 'p':
                if (d->spec.n_pools >= POOLS_MAX || prefix_parse(arg, &d->pools[d->spec.n_pools]) < 0)
                        return -EINVAL;
                d->spec.n_pools++;
                return 0;
        case 't':
                if (d->spec.n_tunnels >= TUNNELS_MAX || !ifname_valid(arg))
                        return -EINVAL;
                memcpy(d->tunnels[d->spec.n_tunnels++], arg, strlen(arg) + 1);
                return 0;
        case 'g':
                if (!ifname_valid(arg))
                        return -EINVAL;
                memcpy(d->spec.gateway_device, arg, strlen(arg) + 1);
                return 0;
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
                return -EINVAL;
        }
}

static int parse_args(Driver *d, int argc, char **argv) {
        static const struct option options[] = {
                { "pool", required_argument, NULL, 'p' },       { "tunnel", required_argument, NULL, 't' },
                { "gateway", required_argument, NULL, 'g' },    { "leak-guard", required_argument, NULL, 'l' },
                { "masquerade", required_argument, NULL, 'm' }, { "priority", required_argument, NULL, 'P' },
                {},
        };
        int c;

        d->spec.pools = d->pools;
        d->spec.tunnels = d->tunnels;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                if (parse_option(d, c, optarg) < 0)
                        return -EINVAL;
        return optind == argc ? 0 : -EINVAL;
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
