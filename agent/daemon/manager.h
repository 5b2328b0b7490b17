/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <systemd/sd-event.h>
#include <uthash.h>

#include "config.h"
#include "object.h"
#include "rtnl-addr.h"
#include "rtnl-link.h"

typedef struct Nft Nft;
typedef struct Rtnl Rtnl;
typedef struct VarlinkServer VarlinkServer;

typedef struct Address {
        AddressInfo info;
        struct Address *prev, *next;    /* in its link's list */
} Address;

/* A main-table route via a managed device: the source of a mirrored route. */
typedef struct MainRoute {
        ObjectKey key;
        Object obj;
        UT_hash_handle hh;              /* Manager.mains, by key */
        struct MainRoute *prev, *next;  /* in its link's list */
} MainRoute;

#define REGISTRATION_UID_UNKNOWN ((uid_t) -1)

/* A device OpenVPN's up hook told us about. Kept by name across resyncs; dropped with the device. */
typedef struct Registration {
        char name[IFNAMSIZ];
        int ifindex;
        char *config;           /* OpenVPN's config path, as the hook passed it */
        int daemon_pid;
        uid_t registered_by_uid; /* the caller; REGISTRATION_UID_UNKNOWN: loaded from an older agent's file */
        uint64_t registered_at; /* CLOCK_REALTIME */
        UT_hash_handle hh;      /* by name */
} Registration;

typedef struct Link {
        LinkInfo info;
        bool managed;
        bool resync4, resync6;  /* the kernel may have dropped routes via it silently: dump them */
        bool sysctl_done;
        bool fresh;             /* during the event that created it: no route via it can have been missed */
        Address *addresses;
        MainRoute *routes;
        UT_hash_handle hh;      /* by info.ifindex */
} Link;

/* An object of ours the kernel holds (our protocol tag). */
typedef struct Have {
        ObjectKey key;
        Object obj;
        UT_hash_handle hh;
} Have;

/* An object we want, and what happened to it. */
typedef struct Want {
        ObjectKey key;
        Object obj;
        ObjectRole role;
        const char *blocked;    /* why it cannot be sent now (static text), or NULL */
        bool mark;              /* for rebuilding a role's set: mark, set, sweep */

        bool seen;              /* the kernel held it at some point: a later add is a restore */
        uint64_t present_since; /* CLOCK_REALTIME, 0 while absent */
        unsigned restores;
        unsigned failures;      /* consecutive */
        int last_error;
        char *last_error_text;
        uint64_t retry_at;      /* CLOCK_MONOTONIC; 0: now */
        double tokens;          /* restore rate limit (token bucket) */
        uint64_t tokens_at;
        bool throttle_logged;
        UT_hash_handle hh;
} Want;

typedef struct Dirty {
        ObjectKey key;
        UT_hash_handle hh;
} Dirty;

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
} Counters;

typedef struct Manager {
        sd_event *event;
        Config *config;
        ConfigSource source;
        char *config_path, *dropin_dir, *iproute2_dir;
        char *runtime_dir;
        uint32_t rcvbuf;
        int control_fd;

        Rtnl *rtnl;
        Nft *nft;                       /* NULL with [Firewall] Manage=no */
        char *firewall_applied;         /* the spec last applied, as text */
        bool firewall_force;            /* our table was touched by someone else: apply even if equal */
        uint64_t leak_drops_seen;       /* the leak guard's drop counter at the last look */
        uint64_t leak_drops_rose_at;    /* CLOCK_REALTIME when it was last seen growing; 0: never */
        VarlinkServer *varlink;
        sd_event_source *reconcile_source;      /* deferred, one-shot */
        sd_event_source *retry_timer;

        Link *links;
        MainRoute *mains;
        Registration *registrations;
        struct PendingCall *pending;    /* hook calls waiting for their routes */
        Have *have;
        Want *want;
        Dirty *dirty;
        bool dirty_all;
        unsigned n_failing;     /* wants whose last operation failed */
        bool need_resync;
        bool enumerating;       /* a full dump is going on */
        bool firewall_dirty;    /* something the nftables table depends on changed */
        bool refresh_base;      /* recompute the source rules, default and fail-closed routes */
        uint64_t last_resync;   /* CLOCK_MONOTONIC */
        bool ready;

        bool forwarding[2];     /* IPv4, IPv6: on at the last check */
        Counters counters;
        char *last_error_text;  /* of the last failed operation */
        uint64_t started_realtime, started_monotonic;
} Manager;

typedef struct ManagerOptions {
        const char *config_path;
        const char *dropin_dir;
        const char *iproute2_dir;
        const char *runtime_dir;
        int control_fd;         /* socket-activated control socket, or -1 */
        uint32_t rcvbuf;
} ManagerOptions;

int manager_new(const ManagerOptions *o, Config *config, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);
int manager_start(Manager *m);
int manager_run(Manager *m);

/* Reads the configuration again; on failure *errors says why and nothing changes. */
int manager_reload(Manager *m, char ***errors);

/* state.c: the observed state, kept by dumps and events. */
int state_enumerate(Manager *m);
void state_free(Manager *m);
int state_resync_links(Manager *m);
int state_handle_message(const struct nlmsghdr *nlh, void *userdata);
void state_handle_overrun(void *userdata);
Link *link_by_name(Manager *m, const char *name);
/* The device name of a route's output device, or NULL. */
const char *object_ifname(Manager *m, const Object *o);
bool have_put(Manager *m, const Object *o);
bool have_remove(Manager *m, const ObjectKey *key);
void have_drop_oif(Manager *m, int family, int ifindex);
void have_clear(Manager *m);

/* want.c: the desired state as the reconciler sees it. */
Want *want_get(Manager *m, const ObjectKey *key);
void want_set(Manager *m, const Object *o, ObjectRole role, const char *blocked);
void want_unset(Manager *m, const ObjectKey *key);
void want_begin_role(Manager *m, ObjectRole role);
void want_sweep_role(Manager *m, ObjectRole role);
void want_free_all(Manager *m);
bool want_is_present(Manager *m, const Want *w);
bool want_take_restore_token(Want *w, uint64_t now, uint64_t *ret_wait);

/* tunnels.c: managed devices, their tun routes and the mirrored routes. */
void tunnels_link_updated(Manager *m, Link *l, bool up_changed);
void tunnels_link_removed(Manager *m, Link *l);
void tunnels_address(Manager *m, const AddressInfo *a, bool deleted);
void tunnels_main_route(Manager *m, const Object *o, bool deleted);
void tunnels_rebuild(Manager *m);
void tunnels_forget_routes(Manager *m, Link *l, int family);
int sysctl_link_setup(Manager *m, Link *l);

/* registrations.c: what OpenVPN's hooks said, kept in the runtime directory across restarts. */
int registrations_save(Manager *m);
void registrations_load(Manager *m);
void registrations_prune(Manager *m);

/* firewall.c: our nftables table, kept in step with config and managed devices. */
int firewall_setup(Manager *m);
void firewall_disable(Manager *m);
uint64_t firewall_sync(Manager *m);
json_t *firewall_status(Manager *m);

/* reconcile.c */
void manager_mark_dirty(Manager *m, const ObjectKey *key);
void manager_mark_failing_dirty(Manager *m);
void manager_schedule_reconcile(Manager *m);
int manager_reconcile(Manager *m);
void manager_refresh_desired(Manager *m);

uint64_t now_monotonic(void);
uint64_t now_realtime(void);
