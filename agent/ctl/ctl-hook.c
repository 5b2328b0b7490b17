/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "hook.h"
#include "macro.h"
#include "parse-util.h"
#include "varlink.h"
#include "vpnpolicy-defs.h"

/* OpenVPN's up hook. OpenVPN waits for it without a timeout and aborts when it fails, so: bounded in
 * time, and exit 0 unless --strict, whatever happens. The environment is OpenVPN's; nothing in it is
 * ever given to a shell. */

#define HOOK_TIMEOUT_DEFAULT_MS 2000U

typedef struct HookOptions {
        const char *runtime_dir;
        bool strict;
        uint32_t timeout_ms;
} HookOptions;

static const char *env_lookup(const char *name, void *userdata) {
        return getenv(name);
}

/* One line to stderr, which OpenVPN puts in its log; the exit code by the --strict policy. */
static int hook_fail(const HookOptions *o, const char *what) {
        fprintf(stderr, "vpnpolicy up hook: %s; %s\n", what,
                o->strict ? "failing (--strict)" : "continuing, the agent adopts the device when it runs");
        return o->strict ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
}

static int hook_parse_options(int argc, char *argv[], HookOptions *o) {
        static const struct option options[] = {
                { "strict", no_argument, NULL, 's' },
                { "runtime-dir", required_argument, NULL, 'r' },
                { "timeout-ms", required_argument, NULL, 't' },
                {}
        };
        int c, r = 0;

        optind = 1;
        opterr = 0;     /* one line of our own on stderr, not getopt's */
        /* "+": stop at the first non-option, the arguments OpenVPN appends (dev, mtu, ...). Read every
         * option before failing, so a bad one cannot hide --strict. */
        while ((c = getopt_long(argc, argv, "+", options, NULL)) >= 0)
                switch (c) {
                case 's':
                        o->strict = true;
                        break;
                case 'r':
                        o->runtime_dir = optarg;
                        break;
                case 't':
                        if (parse_u32(optarg, &o->timeout_ms) < 0 || o->timeout_ms == 0 || o->timeout_ms > 60000)
                                r = -EINVAL;
                        break;
                default:
                        r = -EINVAL;
                }
        return r;
}

static int hook_call(const HookOptions *o, const HookRequest *h) {
        _cleanup_(freep) char *path = NULL, *error = NULL;
        json_t *params = hook_request_to_json(h), *reply = NULL, *reason;
        char what[512];
        int r;

        if (!params || asprintf(&path, "%s/io.vpnpolicy", o->runtime_dir) < 0)
                return hook_fail(o, "out of memory");
        json_object_set_new(params, "timeout_usec", json_integer((json_int_t) o->timeout_ms * 1000 * 9 / 10));
        r = varlink_call(path, "io.vpnpolicy.RegisterTunnel", params, (uint64_t) o->timeout_ms * 1000, &reply, &error);
        json_decref(params);
        if (r < 0) {
                snprintf(what, sizeof(what), "cannot register %s with vpnpolicyd at %s: %s", h->dev, path, strerror(-r));
                return hook_fail(o, what);
        }
        reason = json_object_get(reply, "reason");
        if (r > 0)
                snprintf(what, sizeof(what), "vpnpolicyd refused %s: %s%s%s", h->dev, error,
                         json_is_string(reason) ? ": " : "", json_is_string(reason) ? json_string_value(reason) : "");
        json_decref(reply);
        return r > 0 ? hook_fail(o, what) : CTL_EXIT_OK;
}

int ctl_openvpn_hook(int argc, char *argv[]) {
        HookOptions o = { .timeout_ms = HOOK_TIMEOUT_DEFAULT_MS };
        char error[HOOK_ERROR_MAX], what[HOOK_ERROR_MAX + 32];
        HookRequest h;

        if (hook_parse_options(argc, argv, &o) < 0)
                return hook_fail(&o, "bad hook options (known: --strict, --runtime-dir DIR, --timeout-ms N)");
        if (!o.runtime_dir)
                o.runtime_dir = getenv("VPNPOLICY_RUNTIME_DIR") ?: RUNTIME_DIR_DEFAULT;
        if (o.runtime_dir[0] != '/')
                return hook_fail(&o, "the runtime directory must be an absolute path");
        if (hook_request_parse(env_lookup, NULL, &h, error) < 0) {
                snprintf(what, sizeof(what), "refusing OpenVPN's input: %s", error);
                return hook_fail(&o, what);
        }
        return hook_call(&o, &h);
}
