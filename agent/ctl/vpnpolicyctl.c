/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "macro.h"
#include "varlink.h"
#include "vpnpolicy-defs.h"

typedef struct Verb {
        const char *name;
        int (*fn)(const CtlContext *c, int argc, char *argv[]);
        const char *help;
        const char *usage;      /* arguments and options, for "vpnpolicyctl VERB --help" */
} Verb;

int ctl_call(const CtlContext *c, const char *method, json_t *parameters, json_t **ret_reply) {
        _cleanup_(freep) char *path = NULL, *error = NULL;
        json_t *reply = NULL;
        int r;

        if (asprintf(&path, "%s/io.vpnpolicy", c->runtime_dir) < 0)
                return CTL_EXIT_FAILURE;
        r = varlink_call(path, method, parameters, CTL_TIMEOUT_USEC, &reply, &error);
        if (r < 0) {
                fprintf(stderr, "Cannot reach vpnpolicyd at %s: %s\n", path, strerror(-r));
                return CTL_EXIT_UNREACHABLE;
        }
        if (r > 0) {
                json_t *reason = json_object_get(reply, "reason");
                fprintf(stderr, "vpnpolicyd refused %s: %s%s%s\n", method, error,
                        json_is_string(reason) ? ": " : "", json_is_string(reason) ? json_string_value(reason) : "");
                *ret_reply = reply;
                return CTL_EXIT_FAILURE;
        }
        *ret_reply = reply;
        return CTL_EXIT_OK;
}

static int verb_reload(const CtlContext *c, int argc, char *argv[]) {
        json_t *reply = NULL, *errors, *e;
        size_t i;
        int r;

        if (argc > 1) {
                fprintf(stderr, "reload takes no arguments.\n");
                return CTL_EXIT_USAGE;
        }
        r = ctl_call(c, "io.vpnpolicy.Reload", NULL, &reply);
        errors = json_object_get(reply, "errors");
        json_array_foreach(errors, i, e)
                fprintf(stderr, "%s\n", json_string_value(e));
        if (r == CTL_EXIT_OK)
                printf("Configuration reloaded.\n");
        json_decref(reply);
        return r;
}

static int verb_openvpn_hook(const CtlContext *c, int argc, char *argv[]) {
        /* --runtime-dir, else $VPNPOLICY_RUNTIME_DIR, else the default: the hook reads the variable. */
        setenv("VPNPOLICY_RUNTIME_DIR", c->runtime_dir, 1);
        return ctl_openvpn_hook(argc, argv);
}

static const Verb verbs[] = {
        { "status", ctl_status, "show the policy, every object and whether the kernel has it",
          "[--json]\n\n  --json   the status as JSON (docs/status-schema.json)\n\n"
          "Exit status: 0 healthy, 3 degraded, 4 agent unreachable." },
        { "metrics", ctl_metrics, "print the agent's metrics in the Prometheus text format",
          "[--output FILE]\n\n"
          "  --output FILE   write FILE instead (mode 0644, replaced atomically: for node_exporter's\n"
          "                  textfile collector, e.g. /var/lib/prometheus/node-exporter/vpnpolicy.prom)\n\n"
          "The families are listed in vpnpolicyctl(8), METRICS. When the agent cannot be asked the output\n"
          "is still valid, with vpnpolicy_up 0.\n"
          "Exit status: 0 written, 4 agent unreachable (vpnpolicy_up 0 written), 1 refused or failed." },
        { "reload", verb_reload, "re-read the configuration (the old one stays if the new one is invalid)",
          "\n\nErrors are printed with file and line; exit status 1 then, and the old configuration stays.\n"
          "Under systemd prefer 'systemctl reload vpnpolicyd' when the table's name or id changes." },
        { "openvpn-hook", verb_openvpn_hook, "what OpenVPN's up hook runs: register the tun device, wait for its routes",
          "[--strict] [--runtime-dir DIR] [--timeout-ms N] [OPENVPN-ARGS...]\n\n"
          "Reads OpenVPN's environment (dev, ifconfig_local, ifconfig_netmask, ifconfig_remote,\n"
          "ifconfig_ipv6_local, ifconfig_ipv6_netbits, config, daemon_pid, script_type), registers the\n"
          "device and waits (default 2000 ms) until its routes are in the policy table.\n\n"
          "  --strict         exit 1 when the agent is unreachable, hung or refuses (default: warn, exit 0)\n"
          "  --timeout-ms N   how long to wait for the agent (1..60000)" },
        { "explain", ctl_explain, "which rule, table, route, policy and gateway a packet from SRC to DST takes (no agent needed)",
          "SRC DST [--iif DEV] [--config FILE] [--json]\n\n"
          "  --iif DEV       the packet comes in on DEV (an input lookup, as for forwarded traffic)\n"
          "  --config FILE   name the policy and gateway from FILE (default: the agent's status, else\n"
          "                  /etc/vpnpolicy/vpnpolicy.conf)\n"
          "  --json          machine-readable output" },
        { "doctor", ctl_doctor, "diagnose the setup: each problem with its fix (works without the agent)",
          "[--config FILE] [--openvpn-config FILE]... [--openvpn-dir DIR] [--assume-dco] [--iproute2-dir DIR]\n"
          "[--json]\n\n"
          "  --openvpn-dir DIR   read every DIR/*.conf (default /etc/openvpn/server)\n"
          "  --assume-dco        count managed tun devices as DCO ones (testing without the module)\n\n"
          "Exit status: 0 nothing found, 3 warnings only, 1 errors." },
        { "teardown", ctl_teardown, "remove every rule and route of ours and our iproute2 names (agent stopped)",
          "[--yes] [--iproute2-dir DIR]\n\n"
          "  --yes   do not ask (required when not on a terminal)\n\n"
          "Refuses while vpnpolicyd runs: it would put everything back." },
        { "wait-ready", ctl_wait_ready, "wait until the agent answers and its rules and fail-closed routes are in",
          "[--timeout SEC]\n\n"
          "  --timeout SEC   give up after SEC seconds (1..3600, default 15)\n\n"
          "What the VPN units run before they start (ExecStartPre=). Ready also when degraded:\n"
          "the source rules and fail-closed routes keep pool traffic off the main table.\n"
          "Exit status: 0 ready, 3 the agent answers but they are missing, 4 agent unreachable." },
};

static bool wants_help(int argc, char *argv[]) {
        for (int i = 1; i < argc; i++)
                if (streq(argv[i], "--help") || streq(argv[i], "-h"))
                        return true;
        return false;
}

/* usage is "SYNOPSIS\n\nDETAILS": the summary goes between them. */
static int verb_help(const Verb *v) {
        const char *details = strstr(v->usage, "\n\n");
        int synopsis = details ? (int) (details - v->usage) : (int) strlen(v->usage);

        printf("Usage: vpnpolicyctl [--runtime-dir DIR] %s%s%.*s\n\n%c%s.\n%s\n", v->name, synopsis > 0 ? " " : "",
               synopsis, v->usage, v->help[0] - 'a' + 'A', v->help + 1, details ? details + 1 : "");
        return CTL_EXIT_OK;
}

static void help(void) {
        printf("Usage: vpnpolicyctl [OPTIONS] COMMAND [ARGS]\n\n"
               "Control and inspect vpnpolicyd.\n\nCommands:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                printf("  %-13s %s\n", verbs[i].name, verbs[i].help);
        printf("\nOptions:\n"
               "      --runtime-dir DIR  agent runtime directory (default $VPNPOLICY_RUNTIME_DIR or %s)\n"
               "      --json             machine-readable output where the command prints data\n"
               "  -h, --help             show this help\n"
               "      --version          show the version\n\n"
               "Exit status: 0 healthy/success, 1 failure, 2 usage error, 3 degraded, 4 agent unreachable.\n",
               RUNTIME_DIR_DEFAULT);
}

enum { ARG_RUNTIME_DIR = 0x100, ARG_JSON, ARG_VERSION };

static const struct option options[] = {
        { "runtime-dir", required_argument, NULL, ARG_RUNTIME_DIR },
        { "json", no_argument, NULL, ARG_JSON },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, ARG_VERSION },
        {}
};

/* Returns 1 to go on, or an exit code + 0x100 to stop with. */
static int parse_argv(int argc, char *argv[], CtlContext *c) {
        int opt;

        /* "+": options stop at the command, whose own arguments follow it. */
        while ((opt = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (opt) {
                case ARG_RUNTIME_DIR:
                        c->runtime_dir = optarg;
                        break;
                case ARG_JSON:
                        c->json = true;
                        break;
                case 'h':
                        help();
                        return 0x100 + CTL_EXIT_OK;
                case ARG_VERSION:
                        printf("vpnpolicyctl %s\n", VERSION);
                        return 0x100 + CTL_EXIT_OK;
                default:
                        return 0x100 + CTL_EXIT_USAGE;
                }
        if (!c->runtime_dir)
                c->runtime_dir = getenv("VPNPOLICY_RUNTIME_DIR") ?: RUNTIME_DIR_DEFAULT;
        return 1;
}

int main(int argc, char *argv[]) {
        CtlContext c = {};
        int r;

        r = parse_argv(argc, argv, &c);
        if (r != 1)
                return r - 0x100;
        if (optind >= argc) {
                fprintf(stderr, "Missing command; see 'vpnpolicyctl --help'.\n");
                return CTL_EXIT_USAGE;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, argv[optind])) {
                        if (wants_help(argc - optind, argv + optind))
                                return verb_help(&verbs[i]);
                        /* The verb sees its own argv, so "--json" after the command works too. */
                        return verbs[i].fn(&c, argc - optind, argv + optind);
                }
        fprintf(stderr, "Unknown command '%s'; see 'vpnpolicyctl --help'.\n", argv[optind]);
        return CTL_EXIT_USAGE;
}
