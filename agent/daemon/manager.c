/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "api.h"
#include "fs-util.h"
#include "log.h"
#include "manager.h"
#include "rt-files.h"
#include "rtnl.h"
#include "strv.h"
#include "sysctl.h"
#include "varlink.h"

static uint64_t now_clock(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000U + (uint64_t) ts.tv_nsec / 1000U;
}

uint64_t now_monotonic(void) {
        return now_clock(CLOCK_MONOTONIC);
}

uint64_t now_realtime(void) {
        return now_clock(CLOCK_REALTIME);
}

Manager *manager_free(Manager *m) {
        Dirty *d, *tmp;

        if (!m)
                return NULL;
        api_pending_free_all(m);
        varlink_server_free(m->varlink);
        firewall_disable(m);
        sd_event_source_disable_unref(m->reconcile_source);
        sd_event_source_disable_unref(m->retry_timer);
        rtnl_free(m->rtnl);
        want_free_all(m);
        state_free(m);
        HASH_ITER(hh, m->dirty, d, tmp) {
                HASH_DEL(m->dirty, d);
                free(d);
        }
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
        return 0;
}

static int on_reconcile(sd_event_source *s, void *userdata) {
        (void) manager_reconcile(userdata);
        return 0;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        for (Want *w = m->want; w; w = w->hh.next)
                if (w->retry_at != 0 || w->failures > 0) {
                        w->retry_at = 0;
                        manager_mark_dirty(m, &w->key);
                }
        manager_schedule_reconcile(m);
        return 0;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        _cleanup_strv_free_ char **errors = NULL;

        (void) manager_reload(userdata, &errors);
        return 0;
}

static int manager_event_setup(Manager *m) {
        int r;

        r = sd_event_default(&m->event);
        if (r < 0)
                return r;
        r = sd_event_add_defer(m->event, &m->reconcile_source, on_reconcile, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(m->reconcile_source, SD_EVENT_OFF);
        (void) sd_event_source_set_description(m->reconcile_source, "reconcile");
        r = sd_event_add_time(m->event, &m->retry_timer, CLOCK_MONOTONIC, 0, 10000, on_retry, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(m->retry_timer, SD_EVENT_OFF);
        (void) sd_event_source_set_description(m->retry_timer, "retry");
        r = sd_event_add_signal(m->event, NULL, SIGTERM | SD_EVENT_SIGNAL_PROCMASK, NULL, NULL);
        if (r < 0)
                return r;
        r = sd_event_add_signal(m->event, NULL, SIGINT | SD_EVENT_SIGNAL_PROCMASK, NULL, NULL);
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
        r = manager_copy_options(m, o);
        if (r < 0)
                return r;
        r = manager_event_setup(m);
        if (r < 0)
                return r;
        r = rtnl_new(m->event, m->rcvbuf, state_handle_message, state_handle_overrun, m, &m->rtnl);
        if (r < 0)
                return r;
        m->config = config;
        m->started_realtime = now_realtime();
        m->started_monotonic = now_monotonic();
        m->control_fd = o->control_fd;
        *ret = TAKE_PTR(m);
        return 0;
}

static int manager_install_names(Manager *m, const Config *c) {
        int r;

        r = rt_files_install(m->iproute2_dir, c->policies[0].table_id, c->policies[0].table_name, VPNPOLICY_PROTO, VPNPOLICY_PROTO_NAME);
        if (r < 0)
                return log_error_errno(r, "Failed to write the rt_tables.d/rt_protos.d entries for table %s (%u): %m",
                                       c->policies[0].table_name, c->policies[0].table_id);
        return 0;
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

static const struct {
        int family;
        const char *path;
} forwarding_sysctls[] = {
        { AF_INET, "ipv4/ip_forward" },
        { AF_INET6, "ipv6/conf/all/forwarding" },
};

/* Pools are forwarded traffic: without forwarding nothing of this works. Check, or enable if told to. */
static void manager_check_forwarding(Manager *m) {
        for (size_t i = 0; i < ELEMENTSOF(forwarding_sysctls); i++) {
                const char *path = forwarding_sysctls[i].path;
                int family = forwarding_sysctls[i].family, v = 0, r;

                if (!config_has_family(m->config, family))
                        continue;
                if (m->config->forwarding == FORWARDING_ENABLE) {
                        r = sysctl_net_ensure(path, "1");
                        if (r < 0)
                                log_warning_errno(r, "Failed to enable %s forwarding, ignoring: %m", family_to_string(family));
                        else if (r > 0)
                                log_info("Enabled %s forwarding (net.%s).", family_to_string(family), path);
                }
                r = sysctl_net_read_int(path, &v);
                m->forwarding[i] = r >= 0 && v > 0;
                if (!m->forwarding[i])
                        log_warning("%s forwarding is off (net.%s): pool traffic is not forwarded. Set [Kernel] "
                                    "Forwarding=enable or turn it on.", family_to_string(family), path);
        }
}

/* The checklist: names, kernel state, first full reconcile, then the control socket, then READY. */
int manager_start(Manager *m) {
        int r;

        r = manager_install_names(m, m->config);
        if (r < 0)
                return r;
        manager_check_forwarding(m);
        r = manager_runtime_dir(m);
        if (r < 0)
                return r;
        registrations_load(m);
        r = firewall_setup(m);
        if (r < 0)
                return r;
        r = state_enumerate(m);
        if (r < 0)
                return log_error_errno(r, "Failed to read links, rules and routes from the kernel: %m");
        registrations_prune(m);
        r = manager_reconcile(m);
        if (r < 0)
                return r;
        r = manager_listen(m);
        if (r < 0)
                return r;
        m->ready = true;
        log_info("Policy table %s (%u) in place for %zu pool(s), %u object(s) wanted.", m->config->policies[0].table_name,
                 m->config->policies[0].table_id, m->config->policies[0].n_pools, HASH_COUNT(m->want));
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

int manager_reload(Manager *m, char ***errors) {
        _cleanup_(config_freep) Config *c = NULL;
        int r;

        (void) sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, now_monotonic());
        m->counters.reloads++;
        r = config_load(&m->source, &c, errors);
        if (r < 0) {
                m->counters.reload_failures++;
                log_config_errors(*errors);
                (void) sd_notify(false, "READY=1\nSTATUS=Reload failed, old configuration in force.");
                return log_error_errno(r, "Failed to reload configuration, keeping the old one in force.");
        }
        r = manager_install_names(m, c);
        if (r < 0) {
                m->counters.reload_failures++;
                (void) strv_extendf(errors, "Cannot name table %s (%u) in rt_tables.d: %s%s", c->policies[0].table_name,
                                    c->policies[0].table_id, strerror(-r),
                                    IN_SET(r, -EACCES, -EROFS, -EPERM) ?
                                    " (the daemon runs unprivileged: use 'systemctl reload vpnpolicyd', which "
                                    "writes the names as root first)" : "");
                (void) sd_notify(false, "READY=1\nSTATUS=Reload failed, old configuration in force.");
                return r;
        }
        config_free(m->config);
        m->config = TAKE_PTR(c);
        if (!m->config->firewall_manage)
                firewall_disable(m);
        else if (firewall_setup(m) < 0)
                log_warning("Continuing without the nftables table.");
        m->refresh_base = true;
        m->dirty_all = true;
        m->firewall_dirty = true;
        manager_check_forwarding(m);
        tunnels_rebuild(m);
        (void) manager_reconcile(m);
        (void) sd_notify(false, "READY=1\nSTATUS=Configuration reloaded.");
        log_info("Configuration reloaded.");
        return 0;
}
