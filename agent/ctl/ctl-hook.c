/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "hook.h"
#include "json-writer.h"
#include "macro.h"
#include "parse-util.h"
#include "varlink-client.h"
#include "vpnpolicy-defs.h"

/* OpenVPN's up hook. OpenVPN waits for it without a timeout and aborts when it fails, so: bounded in
 * time, and exit 0 unless --strict, whatever happens. The environment is OpenVPN's; nothing in it is
 * ever given to a shell. Built into vpnpolicyctl (openvpn-hook) and into the hook, which links libc
 * alone: no jansson here, the request is written by json-writer.c and the reply read by
 * varlink_client_reply_scan(). */

#define HOOK_TIMEOUT_DEFAULT_MS 2000U
/* The agent answers RegisterTunnel with the device and its routes, a few hundred bytes. */
#define HOOK_REPLY_MAX (64U * 1024U)

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

/* {"method": "io.vpnpolicy.RegisterTunnel", "parameters": {...what OpenVPN passed, "timeout_usec": N}}.
 * The agent answers at the latest after 90 % of our time, so its answer arrives before we give up. */
static int hook_request_build(const HookOptions *o, const HookRequest *h, char **ret) {
        JsonWriter w = {};
        size_t size;

        json_writer_object_begin(&w);
        json_writer_member_string(&w, "method", "io.vpnpolicy.RegisterTunnel");
        json_writer_key(&w, "parameters");
        json_writer_object_begin(&w);
        hook_request_write(h, &w);
        json_writer_member_uint(&w, "timeout_usec", (uint64_t) o->timeout_ms * 1000 * 9 / 10);
        json_writer_object_end(&w);
        json_writer_object_end(&w);
        return json_writer_finish(&w, ret, &size);
}

/* The agent's words go to OpenVPN's log: no control characters (the scanner guarantees UTF-8). */
static const char *printable_or_qmark(char *s) {
        for (char *p = s; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        *p = '?';
        return s;
}

static int hook_call(const HookOptions *o, const HookRequest *h) {
        _cleanup_(freep) char *path = NULL, *request = NULL, *reply = NULL;
        char error[VARLINK_REPLY_TEXT_MAX], reason[VARLINK_REPLY_TEXT_MAX], what[1024];
        uint64_t deadline;
        size_t reply_size;
        int r;

        if (asprintf(&path, "%s/io.vpnpolicy", o->runtime_dir) < 0)
                return hook_fail(o, "out of memory");
        r = hook_request_build(o, h, &request);
        if (r < 0) {
                snprintf(what, sizeof(what), "cannot write the request for %s: %s", h->dev, strerror(-r));
                return hook_fail(o, what);
        }
        deadline = varlink_client_deadline((uint64_t) o->timeout_ms * 1000);
        r = varlink_client_transact(path, request, deadline, HOOK_REPLY_MAX, &reply, &reply_size);
        if (r >= 0)
                r = varlink_client_reply_scan(reply, reply_size, error, reason);
        if (r < 0) {
                snprintf(what, sizeof(what), "cannot register %s with vpnpolicyd at %s: %s", h->dev, path,
                         r == -EBADMSG ? "malformed reply" : strerror(-r));
                return hook_fail(o, what);
        }
        if (r == 0)
                return CTL_EXIT_OK;
        snprintf(what, sizeof(what), "vpnpolicyd refused %s: %s%s%s", h->dev, printable_or_qmark(error),
                 reason[0] ? ": " : "", printable_or_qmark(reason));
        return hook_fail(o, what);
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
