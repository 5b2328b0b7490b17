/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The manager: lifecycle, the event loop's sources, and the pass. Inputs (netlink events, nft events,
 * control calls, timers) only write their own tables and flags; the pass runs from a post source after
 * every event the loop dispatched, reads what changed, derives what we want (policy.c, tunnels.c),
 * sends the difference (reconcile.c) and keeps the firewall and waiting hook calls in step. Nothing
 * below calls up. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "api.h"
#include "firewall.h"
#include "fs-util.h"
#include "log.h"
#include "manager.h"
#include "observed.h"
#include "plan.h"
#include "reconcile.h"
#include "rt-files.h"
#include "rtnl.h"
#include "strv.h"
#include "tables.h"
#include "varlink.h"

/* Full dumps are rate-limited: under a storm of overruns we resync once a second at most. */
#define RESYNC_INTERVAL_USEC (1000U * 1000U)
/* A verification asked for because something looked wrong waits at least this long after the last. */
#define VERIFY_SOON_USEC (5U * 1000U * 1000U)
/* The periodic verification may take at most 1% of the time: the next waits 100 times its duration. */
#define VERIFY_COST_FACTOR 100
/* Rounds of the pass per loop iteration: events read while a round sends its changes make more work. */
#define PASS_ROUNDS 8
/* After the stop signal, the longest the answers to calls already read may take. */
#define STOP_DEADLINE_USEC (3U * 1000U * 1000U)

const char *manager_ifname(Manager *m, int ifindex) {
        Link *l = ifindex > 0 ? links_get(&m->links, ifindex) : NULL;

        return l ? l->info.name : NULL;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        api_pending_free_all(m);
        varlink_server_free(m->varlink);
        firewall_disable(m);
        sd_event_source_disable_unref(m->pass_source);
        sd_event_source_disable_unref(m->kick_source);
        sd_event_source_disable_unref(m->retry_timer);
        sd_event_source_disable_unref(m->confirm_timer);
        sd_event_source_disable_unref(m->verify_timer);
        rtnl_free(m->rtnl);
        gateways_done(&m->gateways);
        tunnels_done(m);
        policy_done(&m->policy);
        records_done(&m->records);
        links_done(&m->links);
        registrations_done(&m->registrations);
        sysctl_link_done(m);
        config_free(m->config);
        sd_event_unref(m->event);
        free(m->config_path);
        free(m->dropin_dir);
        free(m->iproute2_dir);
        free(m->runtime_dir);
        free(m->last_error_text);
        free(m);
        return NULL;
}

static int strdup_optional(const char *s, char **ret) {
        if (!s) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static int manager_copy_options(Manager *m, const ManagerOptions *o) {
        if (strdup_optional(o->config_path, &m->config_path) < 0 ||
            strdup_optional(o->dropin_dir, &m->dropin_dir) < 0 ||
            strdup_optional(o->iproute2_dir ?: IPROUTE2_DIR_DEFAULT, &m->iproute2_dir) < 0 ||
            strdup_optional(o->runtime_dir, &m->runtime_dir) < 0)
                return -ENOMEM;
        m->source = (ConfigSource) {
                .path = m->config_path,
                .dropin_dir = m->dropin_dir,
                .iproute2_dir = m->iproute2_dir,
        };
        m->rcvbuf = o->rcvbuf > 0 ? o->rcvbuf : RTNL_RCVBUF_DEFAULT;
        m->verify_interval_usec = o->verify_interval_usec == UINT64_MAX ? VERIFY_INTERVAL_DEFAULT_USEC
                                                                       : o->verify_interval_usec;
        return 0;
}

/* ---- the pass ---- */

static bool resync_allowed(Manager *m, uint64_t now) {
        return m->last_resync == 0 || now >= m->last_resync + RESYNC_INTERVAL_USEC;
}

static bool verify_allowed(Manager *m, uint64_t now) {
        return m->verify_due || (m->verify_soon && now >= m->last_verify + VERIFY_SOON_USEC);
}

static bool confirm_allowed(Manager *m, uint64_t now) {
        return m->links.confirm_at > 0 && m->links.confirm_at <= now;
}

/* Only work that can be done now: what waits has a timer. */
static bool manager_has_work(Manager *m, uint64_t now) {
        return m->config_changed || (m->need_resync && resync_allowed(m, now)) || verify_allowed(m, now) ||
               confirm_allowed(m, now) || m->retry_due || m->records.dirty || m->records.all_dirty ||
               m->links.changed || m->registrations.changed || m->tunnels.released || firewall_pending(m) ||
               m->gateways.changed || policy_due(m, now);
}

static void manager_resync(Manager *m, uint64_t now) {
        int r;

        m->need_resync = false;
        m->last_resync = now;
        m->counters.resyncs++;
        r = observed_enumerate(m);
        if (r < 0) {
                m->need_resync = true;
                m->counters.netlink_errors++;
                log_error_errno(r, "Failed to read the kernel's state, retrying: %m");
                return;
        }
        log_info("Resynced with the kernel.");
}

static void manager_verify(Manager *m, uint64_t now) {
        int r;

        m->verify_due = m->verify_soon = false;
        m->counters.verifications++;
        firewall_reverify(m);           /* the nftables table is read back in full too */
        r = observed_verify(m);
        m->last_verify = now_monotonic();
        m->last_verify_usec = m->last_verify - now;
        m->last_verify_realtime = now_realtime();
        if (r < 0) {
                m->counters.netlink_errors++;
                m->need_resync = true;
                log_warning_errno(r, "Failed to re-read our objects, resyncing: %m");
                return;
        }
        if (r > 0) {
                m->counters.verify_repairs += (uint64_t) r;
                log_notice("Verification found %d difference(s) between what the kernel holds and what we "
                           "believed, repairing.", r);
        }
}

static void manager_confirm(Manager *m) {
        int r = observed_confirm(m);

        if (r < 0) {
                m->counters.netlink_errors++;
                m->need_resync = true;
                log_warning_errno(r, "Failed to confirm the routes of changed devices, resyncing: %m");
        }
}

static uint64_t earliest(uint64_t a, uint64_t b) {
        if (a == 0)
                return b;
        return b == 0 ? a : MIN(a, b);
}

/* One round: read what is due, derive, send, follow up. Returns when something waits. */
static uint64_t manager_round(Manager *m) {
        uint64_t now = now_monotonic(), next = 0;

        m->counters.reconcile_passes++;
        if (m->need_resync && resync_allowed(m, now))
                manager_resync(m, now);
        if (verify_allowed(m, now))
                manager_verify(m, now);
        if (confirm_allowed(m, now))
                manager_confirm(m);
        if (m->retry_due) {
                m->retry_due = false;
                next = plan_retry_due(&m->records, now);
        }
        gateways_update(m);
        next = earliest(next, policy_update(m));
        tunnels_update(m);
        m->config_changed = false;
        next = earliest(next, reconcile_run(m));
        /* The hooks waiting for their routes first; sysctls and the firewall after. */
        api_pending_check(m);
        tunnels_sysctls(m);
        policy_gateway_sysctls(m);
        next = earliest(next, firewall_sync(m));
        policy_after_reconcile(m);
        return next;
}

static void timer_arm(sd_event_source *s, uint64_t at) {
        uint64_t armed;
        int enabled;

        if (at == 0)
                return;
        /* Only ever earlier: a round that looked at some objects must not cancel what others wait for. */
        if (sd_event_source_get_enabled(s, &enabled) >= 0 && enabled != SD_EVENT_OFF &&
            sd_event_source_get_time(s, &armed) >= 0 && armed <= at)
                return;
        (void) sd_event_source_set_time(s, at);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static void manager_arm_timers(Manager *m, uint64_t retry_at) {
        uint64_t now = now_monotonic();

        if (m->need_resync && !resync_allowed(m, now))
                retry_at = earliest(retry_at, m->last_resync + RESYNC_INTERVAL_USEC);
        if (m->verify_soon)
                retry_at = earliest(retry_at, m->last_verify + VERIFY_SOON_USEC);
        timer_arm(m->retry_timer, retry_at);
        timer_arm(m->confirm_timer, m->links.confirm_at);
}

static void manager_pass(Manager *m) {
        uint64_t next = 0, start = now_monotonic();
        unsigned i;

        for (i = 0; i < PASS_ROUNDS && manager_has_work(m, now_monotonic()); i++)
                next = earliest(next, manager_round(m));
        /* Only passes that did work: the many after events that change nothing would bury them. */
        if (i > 0)
                histogram_observe(&m->pass_duration, now_monotonic() - start);
        /* Work left (a burst that keeps coming): come round again after the loop looked at its sockets. */
        if (!m->stopping && manager_has_work(m, now_monotonic()))
                (void) sd_event_source_set_enabled(m->kick_source, SD_EVENT_ONESHOT);
        manager_arm_timers(m, next);
}

static int on_post(sd_event_source *s, void *userdata) {
        manager_pass(userdata);
        return 0;
}

static int on_kick(sd_event_source *s, void *userdata) {
        return 0;       /* the post source does the work */
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        m->retry_due = true;
        return 0;
}

static int on_confirm(sd_event_source *s, uint64_t usec, void *userdata) {
        return 0;       /* links.confirm_at has come: the pass sees it */
}

static uint64_t verify_interval(Manager *m) {
        return MAX(m->verify_interval_usec, m->last_verify_usec * VERIFY_COST_FACTOR);
}

static int on_verify(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        m->verify_due = true;
        (void) sd_event_source_set_time_relative(s, verify_interval(m));
        return 0;
}

static int on_exit_now(sd_event_source *s, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int on_stop_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        log_warning("Still busy %.1f s after the stop signal, exiting anyway; the kernel keeps the policy as it is.",
                    (double) STOP_DEADLINE_USEC / USEC_PER_SEC);
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int add_floating(Manager *m, bool timer) {
        sd_event_source *s = NULL;
        int r;

        if (timer)
                r = sd_event_add_time_relative(m->event, &s, CLOCK_MONOTONIC, STOP_DEADLINE_USEC, 0,
                                               on_stop_deadline, m);
        else
                r = sd_event_add_defer(m->event, &s, on_exit_now, m);
        if (r < 0)
                return r;
        if (!timer)
                (void) sd_event_source_set_priority(s, SD_EVENT_PRIORITY_IDLE);
        (void) sd_event_source_set_floating(s, true);
        sd_event_source_unref(s);
        return 0;
}

/* SIGTERM: no new connection (the socket unit keeps those for the next instance, so a `systemctl restart`
 * loses no call), the requests already read or waiting in the accepted connections answered, then out: at
 * idle priority, after every other event due. The pass no longer brings itself round, and a deadline ends
 * it should the loop still find something to do. */
static int on_stop(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        if (m->stopping)
                return 0;
        m->stopping = true;
        varlink_server_stop_accepting(m->varlink);
        if (add_floating(m, false) < 0 || add_floating(m, true) < 0)
                return sd_event_exit(m->event, 0);
        return 0;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        _cleanup_strv_free_ char **errors = NULL;

        (void) manager_reload(userdata, &errors);
        return 0;
}

/* ---- set-up ---- */

static int add_timer(Manager *m, sd_event_source **ret, sd_event_time_handler_t fn, const char *name) {
        int r = sd_event_add_time(m->event, ret, CLOCK_MONOTONIC, 0, 1000, fn, m);

        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(*ret, SD_EVENT_OFF);
        (void) sd_event_source_set_description(*ret, name);
        return 0;
}

static int manager_timers_setup(Manager *m) {
        int r;

        r = add_timer(m, &m->retry_timer, on_retry, "retry");
        if (r >= 0)
                r = add_timer(m, &m->confirm_timer, on_confirm, "confirm");
        if (r >= 0)
                r = add_timer(m, &m->verify_timer, on_verify, "verify");
        if (r < 0)
                return r;
        /* A coarse timer: the verification may run up to a second late, so its wakeups coalesce. */
        if (m->verify_interval_usec > 0) {
                (void) sd_event_source_set_time_accuracy(m->verify_timer, USEC_PER_SEC);
                (void) sd_event_source_set_time_relative(m->verify_timer, m->verify_interval_usec);
                (void) sd_event_source_set_enabled(m->verify_timer, SD_EVENT_ON);
        }
        return 0;
}

static int manager_event_setup(Manager *m) {
        int r;

        r = sd_event_default(&m->event);
        if (r < 0)
                return r;
        r = sd_event_add_post(m->event, &m->pass_source, on_post, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(m->pass_source, "pass");
        r = sd_event_add_defer(m->event, &m->kick_source, on_kick, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(m->kick_source, SD_EVENT_OFF);
        (void) sd_event_source_set_description(m->kick_source, "kick");
        r = manager_timers_setup(m);
        if (r < 0)
                return r;
        r = sd_event_add_signal(m->event, NULL, SIGTERM | SD_EVENT_SIGNAL_PROCMASK, on_stop, m);
        if (r < 0)
                return r;
        r = sd_event_add_signal(m->event, NULL, SIGINT | SD_EVENT_SIGNAL_PROCMASK, on_stop, m);
        if (r < 0)
                return r;
        r = sd_event_add_signal(m->event, NULL, SIGHUP | SD_EVENT_SIGNAL_PROCMASK, on_sighup, m);
        if (r < 0)
                return r;
        return sd_event_set_watchdog(m->event, true);
}

int manager_new(const ManagerOptions *o, Config *config, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = calloc(1, sizeof(Manager));
        if (!m)
                return -ENOMEM;
        m->gateways.fd[0] = m->gateways.fd[1] = -EBADF;
        m->config = config;     /* owned once we return successfully */
        r = manager_copy_options(m, o);
        if (r >= 0)
                r = manager_event_setup(m);
        if (r >= 0)
                r = rtnl_new(m->event, m->rcvbuf, observed_handle_event, observed_handle_overrun, m, &m->rtnl);
        if (r >= 0)
                r = gateways_init(m);
        if (r < 0) {
                m->config = NULL;
                return r;
        }
        records_init(&m->records);
        m->started_realtime = now_realtime();
        m->started_monotonic = now_monotonic();
        m->control_fd = o->control_fd;
        m->config_changed = true;
        *ret = TAKE_PTR(m);
        return 0;
}

static int manager_install_names(Manager *m, const Config *c) {
        int r;

        r = rt_files_install_policies(m->iproute2_dir, c);
        if (r < 0)
                return log_error_errno(r, "Failed to write the rt_tables.d/rt_protos.d entries for the tables of "
                                       "%zu policies: %m", c->n_policies);
        return 0;
}

/* Our tables: this configuration's, and those of earlier ones (kept in the runtime directory across
 * restarts), whose objects with our protocol are still ours to remove. */
static void manager_remember_tables(Manager *m) {
        for (size_t i = 0; i < m->config->n_policies; i++)
                if (records_add_table(&m->records, m->config->policies[i].table_id) < 0)
                        log_warning("Too many tables remembered, not sweeping objects of table %u later.",
                                    m->config->policies[i].table_id);
        if (tables_save(&m->records, m->runtime_dir) < 0)
                log_warning("Failed to save %s/tables, ignoring: after a restart objects of earlier tables are "
                            "left alone.", m->runtime_dir);
}

static int manager_runtime_dir(Manager *m) {
        int r;

        if (mkdir(m->runtime_dir, 0755) < 0 && errno != EEXIST)
                return log_error_errno(negative_errno(), "Failed to create %s: %m", m->runtime_dir);
        /* An existing one may have been made by someone else, to read or replace what we keep there. */
        r = dir_check_owned(m->runtime_dir, geteuid());
        if (r < 0)
                return log_error_errno(r, "Refusing the runtime directory %s: %s. It must be a directory owned by "
                                       "us (uid %u) or root, writable by its owner only (a symlink to it: made "
                                       "by us or root).",
                                       m->runtime_dir, dir_check_strerror(r), (unsigned) geteuid());
        return 0;
}

static int manager_listen(Manager *m) {
        _cleanup_(freep) char *path = NULL;
        int r;

        if (asprintf(&path, "%s/io.vpnpolicy", m->runtime_dir) < 0)
                return log_error_errno(-ENOMEM, "Out of memory.");
        r = varlink_server_new(m->event, path, m->control_fd, api_dispatch, m, &m->varlink);
        if (r < 0)
                return log_error_errno(r, "Failed to listen on %s: %m", path);
        varlink_server_set_privileged(m->varlink, api_peer_privileged);
        return 0;
}

static void manager_load_state(Manager *m) {
        int r = registrations_load(&m->registrations, m->runtime_dir);

        if (r > 0)
                log_debug("Loaded %d registration(s) from %s.", r, m->runtime_dir);
        (void) tables_load(&m->records, m->runtime_dir);
        manager_remember_tables(m);
}

/* The checklist: names, kernel state, first full reconcile, then the control socket, then READY. */
int manager_start(Manager *m) {
        int r;

        r = manager_install_names(m, m->config);
        if (r < 0)
                return r;
        sysctl_check_forwarding(m);
        r = manager_runtime_dir(m);
        if (r < 0)
                return r;
        manager_load_state(m);
        r = firewall_setup(m);
        if (r < 0)
                return r;
        r = observed_enumerate(m);
        if (r < 0)
                return log_error_errno(r, "Failed to read links, rules and routes from the kernel: %m");
        if (registrations_prune(&m->registrations, &m->links))
                (void) registrations_save(&m->registrations, m->runtime_dir);
        m->last_verify = now_monotonic();
        manager_pass(m);
        r = manager_listen(m);
        if (r < 0)
                return r;
        m->ready = true;
        log_info("Policy in place: %zu polic%s, %zu object(s) wanted.", m->config->n_policies,
                 m->config->n_policies == 1 ? "y" : "ies", m->records.n_wanted);
        (void) sd_notify(false, "READY=1\nSTATUS=Policy in place.");
        return 0;
}

int manager_run(Manager *m) {
        int r = sd_event_loop(m->event);

        (void) sd_notify(false, "STOPPING=1");
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        log_info("Stopping, leaving every object in place.");
        return 0;
}

static void log_config_errors(char **errors) {
        STRV_FOREACH(e, errors)
                log_error("%s", *e);
}

static int reload_failed(Manager *m, int r) {
        m->counters.reload_failures++;
        (void) sd_notify(false, "READY=1\nSTATUS=Reload failed, old configuration in force.");
        return r;
}

int manager_reload(Manager *m, char ***errors) {
        _cleanup_(config_freep) Config *c = NULL;
        int r;

        (void) sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, now_monotonic());
        m->counters.reloads++;
        r = config_load(&m->source, &c, errors);
        if (r < 0) {
                log_config_errors(*errors);
                log_error_errno(r, "Failed to reload configuration, keeping the old one in force.");
                return reload_failed(m, r);
        }
        r = manager_install_names(m, c);
        if (r < 0) {
                (void) strv_extendf(errors, "Cannot name the policies' tables in rt_tables.d: %s%s", strerror(-r),
                                    IN_SET(r, -EACCES, -EROFS, -EPERM) ?
                                    " (the daemon runs unprivileged: use 'systemctl reload vpnpolicyd', which "
                                    "writes the names as root first)" : "");
                return reload_failed(m, r);
        }
        config_free(m->config);
        m->config = TAKE_PTR(c);
        if (!m->config->firewall_manage)
                firewall_disable(m);
        else if (firewall_setup(m) < 0)
                log_warning("Continuing without the nftables table.");
        manager_remember_tables(m);
        m->config_changed = true;
        sysctl_check_forwarding(m);
        manager_pass(m);
        tunnels_reread_routes(m);
        manager_pass(m);
        (void) sd_notify(false, "READY=1\nSTATUS=Configuration reloaded.");
        log_info("Configuration reloaded.");
        return 0;
}
