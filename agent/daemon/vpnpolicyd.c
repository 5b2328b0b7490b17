/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "log.h"
#include "manager.h"
#include "parse-util.h"
#include "rt-files.h"
#include "strv.h"
#include "vpnpolicy-defs.h"

/* Exit codes (vpnpolicyd(8)): EX_CONFIG from sysexits.h lets the unit refuse to restart on a bad config. */
#define EXIT_USAGE 2
#define EXIT_CONFIG 78

typedef struct Args {
        const char *config_path;
        const char *runtime_dir;
        const char *iproute2_dir;
        bool check_config;
        bool print;
        bool install_names;
        uint32_t rcvbuf;
        uint64_t verify_interval_usec;
} Args;

static void help(void) {
        printf("Usage: vpnpolicyd [OPTIONS]\n\n"
               "Keeps the policy routing of an OpenVPN server in the kernel.\n\n"
               "  -c, --config FILE       configuration file (default %s,\n"
               "                          drop-ins in FILE.d/*.conf)\n"
               "      --runtime-dir DIR   control socket directory (default $VPNPOLICY_RUNTIME_DIR or %s)\n"
               "      --check-config      validate the configuration and exit, touching nothing\n"
               "      --print             with --check-config, print the normalized configuration\n"
               "      --install-names     validate, write the rt_tables.d/rt_protos.d entries and exit\n"
               "                          (the unit's privileged ExecStartPre=+ step)\n"
               "      --log-level LEVEL   debug, info, notice, warning, err (default info)\n"
               "      --iproute2-dir DIR  where rt_tables lives (default /etc/iproute2)\n"
               "      --netlink-rcvbuf N  netlink event socket buffer in bytes (default 64 MiB)\n"
               "      --verify-interval SEC\n"
               "                          re-read our rules and routes from the kernel this often\n"
               "                          (default 60, 0: never; never more than 1%% of the time)\n"
               "  -h, --help              show this help\n"
               "      --version           show the version\n\n"
               "Exit status: 0 success, 1 failure, 2 usage error, 78 invalid configuration.\n",
               CONFIG_PATH_DEFAULT, RUNTIME_DIR_DEFAULT);
}

enum {
        ARG_RUNTIME_DIR = 0x100,
        ARG_CHECK_CONFIG,
        ARG_PRINT,
        ARG_INSTALL_NAMES,
        ARG_LOG_LEVEL,
        ARG_IPROUTE2_DIR,
        ARG_RCVBUF,
        ARG_VERIFY_INTERVAL,
        ARG_VERSION,
};

static const struct option options[] = {
        { "config", required_argument, NULL, 'c' },
        { "runtime-dir", required_argument, NULL, ARG_RUNTIME_DIR },
        { "check-config", no_argument, NULL, ARG_CHECK_CONFIG },
        { "print", no_argument, NULL, ARG_PRINT },
        { "install-names", no_argument, NULL, ARG_INSTALL_NAMES },
        { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
        { "iproute2-dir", required_argument, NULL, ARG_IPROUTE2_DIR },
        { "netlink-rcvbuf", required_argument, NULL, ARG_RCVBUF },
        { "verify-interval", required_argument, NULL, ARG_VERIFY_INTERVAL },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, ARG_VERSION },
        {}
};

/* Returns 1 to go on, 0 to exit successfully, -EINVAL on a usage error (already reported). */
static int parse_option(int c, Args *a) {
        switch (c) {
        case 'c':
                a->config_path = optarg;
                return 1;
        case ARG_RUNTIME_DIR:
                a->runtime_dir = optarg;
                return 1;
        case ARG_CHECK_CONFIG:
                a->check_config = true;
                return 1;
        case ARG_PRINT:
                a->print = true;
                return 1;
        case ARG_INSTALL_NAMES:
                a->install_names = true;
                return 1;
        case ARG_LOG_LEVEL:
                if (log_set_max_level_from_string(optarg) < 0)
                        return log_error_errno(-EINVAL, "Unknown log level '%s'.", optarg);
                return 1;
        case ARG_IPROUTE2_DIR:
                a->iproute2_dir = optarg;
                return 1;
        case ARG_RCVBUF:
                if (parse_u32(optarg, &a->rcvbuf) < 0 || a->rcvbuf < 4096)
                        return log_error_errno(-EINVAL, "Invalid --netlink-rcvbuf '%s'.", optarg);
                return 1;
        case ARG_VERIFY_INTERVAL: {
                double sec;
                char *end;

                errno = 0;
                sec = strtod(optarg, &end);
                if (errno != 0 || end == optarg || *end || !(sec >= 0) || sec > 86400)
                        return log_error_errno(-EINVAL, "Invalid --verify-interval '%s': seconds, 0 to 86400.", optarg);
                a->verify_interval_usec = (uint64_t) (sec * 1e6);
                return 1;
        }
        case 'h':
                help();
                return 0;
        case ARG_VERSION:
                printf("vpnpolicyd %s\n", VERSION);
                return 0;
        default:
                return -EINVAL;
        }
}

static int parse_argv(int argc, char *argv[], Args *a) {
        int c, r;

        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0) {
                r = parse_option(c, a);
                if (r <= 0)
                        return r;
        }
        if (optind < argc)
                return log_error_errno(-EINVAL, "Unexpected argument '%s'.", argv[optind]);
        if (a->print && !a->check_config)
                return log_error_errno(-EINVAL, "--print goes with --check-config.");
        if (!a->runtime_dir)
                a->runtime_dir = getenv("VPNPOLICY_RUNTIME_DIR") ?: RUNTIME_DIR_DEFAULT;
        return 1;
}

static int load_config(const Args *a, Config **ret) {
        ConfigSource src = { .path = a->config_path, .iproute2_dir = a->iproute2_dir };
        _cleanup_strv_free_ char **errors = NULL;
        int r;

        r = config_load(&src, ret, &errors);
        STRV_FOREACH(e, errors)
                log_error("%s", *e);
        if (r < 0)
                return log_error_errno(r, "Configuration is invalid, nothing was changed.");
        return 0;
}

static int check_config(const Args *a, Config *c) {
        if (a->print)
                return config_print(c, stdout);
        log_info("Configuration is valid.");
        return 0;
}

/* Runs as root before the unprivileged daemon, which may not write to /etc. */
static int install_names(const Args *a, const Config *c) {
        int r;

        r = rt_files_install_policies(a->iproute2_dir ?: IPROUTE2_DIR_DEFAULT, c);
        if (r < 0)
                return log_error_errno(r, "Failed to write the rt_tables.d/rt_protos.d entries: %m");
        for (size_t i = 0; i < c->n_policies; i++)
                log_info("Table %s (%u) of policy %s named in %s.", c->policies[i].table_name, c->policies[i].table_id,
                         c->policies[i].name, a->iproute2_dir ?: IPROUTE2_DIR_DEFAULT);
        log_info("Protocol %s (%u) named in %s.", VPNPOLICY_PROTO_NAME, VPNPOLICY_PROTO,
                 a->iproute2_dir ?: IPROUTE2_DIR_DEFAULT);
        return 0;
}

/* Every control connection is a file descriptor: take what the hard limit allows (systemd's default soft
 * limit is 1024, its hard limit 524288), as systemd itself does for its services. */
static void raise_nofile(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
                return;
        rl.rlim_cur = MIN(rl.rlim_max, (rlim_t) 65536);
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                log_debug_errno(negative_errno(), "Failed to raise the open files limit, ignoring: %m");
}

static int control_fd(void) {
        int n = sd_listen_fds(true);

        return n == 1 ? SD_LISTEN_FDS_START : -1;
}

int main(int argc, char *argv[]) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_(config_freep) Config *c = NULL;
        Args a = { .verify_interval_usec = UINT64_MAX };
        int r;

        log_setup();
        r = parse_argv(argc, argv, &a);
        if (r <= 0)
                return r < 0 ? EXIT_USAGE : EXIT_SUCCESS;
        if (load_config(&a, &c) < 0)
                return EXIT_CONFIG;
        if (a.check_config)
                return check_config(&a, c) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        if (a.install_names)
                return install_names(&a, c) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        ManagerOptions o = {
                .config_path = a.config_path,
                .iproute2_dir = a.iproute2_dir,
                .runtime_dir = a.runtime_dir,
                .control_fd = control_fd(),
                .rcvbuf = a.rcvbuf,
                .verify_interval_usec = a.verify_interval_usec,
        };
        raise_nofile();
        r = manager_new(&o, c, &m);
        if (r < 0)
                return log_error_errno(r, "Failed to set up: %m"), EXIT_FAILURE;
        TAKE_PTR(c);    /* the manager owns it now */
        if (manager_start(m) < 0)
                return EXIT_FAILURE;
        return manager_run(m) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
