/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <net/if.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "histogram.h"
#include "gateways.h"
#include "links.h"
#include "policy.h"
#include "records.h"
#include "registrations.h"
#include "sysctl-link.h"
#include "tunnels.h"
#include "time-util.h"

typedef struct Nft Nft;
typedef struct Rtnl Rtnl;
typedef struct VarlinkServer VarlinkServer;
typedef struct PendingCall PendingCall;

typedef struct Counters {
        uint64_t restores;
        uint64_t restore_throttled;
        uint64_t resyncs;
        uint64_t overruns;
        uint64_t netlink_errors;
        uint64_t failed_operations;
        uint64_t reconcile_passes;
        uint64_t operations;
        uint64_t reloads;
        uint64_t reload_failures;
        uint64_t firewall_restores;
        uint64_t firewall_errors;
        uint64_t verifications;         /* periodic re-reads of our tables and rules */
        uint64_t verify_repairs;        /* differences they found between the cache and the kernel */
        uint64_t confirms;              /* dumps confirming the routes via a device after it changed */
} Counters;

/* The nftables side (firewall.c). */
typedef struct Firewall {
        Nft *nft;                       /* NULL with [Firewall] Manage=no */
        char *applied;                  /* the spec last applied, as text */
        bool force;                     /* our table was touched by someone else: apply even if equal */
        uint64_t tunnels_generation;    /* of the tunnels the table was last built for */
        char *gateway_devices;          /* the devices the kernel chose for the default routes, likewise */
        uint64_t retry_at;
        uint64_t leak_drops_seen;       /* the leak guard's drop counter at the last look */
        uint64_t leak_drops_rose_at;    /* CLOCK_REALTIME when it was last seen growing; 0: never */
} Firewall;

typedef struct Manager {
        sd_event *event;
        Config *config;
        ConfigSource source;
        char *config_path, *dropin_dir, *iproute2_dir;
        char *runtime_dir;
        uint32_t rcvbuf;
        int control_fd;
        uint64_t verify_interval_usec;  /* 0: no periodic verification */

        Rtnl *rtnl;
        Firewall firewall;
        VarlinkServer *varlink;
        sd_event_source *pass_source;   /* post: the pass, after every event the loop dispatched */
        sd_event_source *kick_source;   /* defer: brings the loop round once more when work is left */
        sd_event_source *retry_timer;
        sd_event_source *confirm_timer;
        sd_event_source *verify_timer;

        /* The tables, one writer each: links.c, records.c, tunnels.c, policy.c, registrations.c, gateways.c. */
        Links links;
        RecordTable records;
        Tunnels tunnels;
        PolicyWants policy;
        Gateways gateways;
        Registrations registrations;
        PendingCall *pending;           /* api-tunnel.c: hook calls waiting for their routes */
        SysctlDone *sysctls;            /* sysctl-link.c: devices whose redirects are off */

        bool config_changed;            /* derive everything again */
        bool need_resync;               /* events were lost: read everything again */
        bool enumerating;               /* a full dump is going on */
        bool verify_due;                /* the periodic verification's timer fired */
        bool verify_soon;               /* something looked wrong: verify once the minimum gap passed */
        bool retry_due;
        uint64_t last_resync;           /* CLOCK_MONOTONIC */
        uint64_t last_verify, last_verify_usec, last_verify_realtime;
        bool ready;
        bool stopping;                  /* SIGTERM came: answer what was read, then exit */

        bool forwarding[2];             /* IPv4, IPv6: on at the last check */
        Counters counters;
        char *last_error_text;          /* of the last failed operation */
        uint64_t started_realtime, started_monotonic;
        Histogram pass_duration;        /* of the passes that did work (GetMetrics) */
} Manager;

typedef struct ManagerOptions {
        const char *config_path;
        const char *dropin_dir;
        const char *iproute2_dir;
        const char *runtime_dir;
        int control_fd;                 /* socket-activated control socket, or -1 */
        uint32_t rcvbuf;
        uint64_t verify_interval_usec;  /* UINT64_MAX: the default */
} ManagerOptions;

#define VERIFY_INTERVAL_DEFAULT_USEC (60ULL * USEC_PER_SEC)

int manager_new(const ManagerOptions *o, Config *config, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);
int manager_start(Manager *m);
int manager_run(Manager *m);

/* Reads the configuration again; on failure *errors says why and nothing changes. */
int manager_reload(Manager *m, char ***errors);

/* The device name of a route's output device, or NULL. */
const char *manager_ifname(Manager *m, int ifindex);
