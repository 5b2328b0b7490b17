/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "macro.h"
#include "parse-util.h"
#include "varlink.h"

/* wait-ready: the gate a VPN service passes before it starts (ExecStartPre= in the drop-ins of
 * units/), so that a server whose agent never came up does not forward pool traffic by the main table.
 * Ready means: the agent answers GetStatus and the kernel holds its source rules and fail-closed routes.
 * Once they are in, pool traffic can only take the policy table or be refused there, whatever else is
 * missing (a gateway that is down is "degraded", and safe). Under socket activation the connect succeeds
 * while the agent starts and the call is answered after READY=1; without it, or while the socket unit
 * restarts, connecting fails for a moment: both are retried until the deadline. */

#define WAIT_READY_TIMEOUT_DEFAULT_SEC 15U
#define WAIT_READY_TIMEOUT_MAX_SEC 3600U
#define WAIT_READY_RETRY_USEC (200U * 1000U)

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000U + (uint64_t) ts.tv_nsec / 1000U;
}

static void sleep_usec(uint64_t usec) {
        struct timespec ts = { .tv_sec = (time_t) (usec / 1000000U), .tv_nsec = (long) (usec % 1000000U) * 1000 };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static int wait_ready_parse_argv(int argc, char *argv[], uint32_t *ret_timeout_sec) {
        static const struct option options[] = {
                { "timeout", required_argument, NULL, 't' },
                {}
        };
        uint32_t timeout = WAIT_READY_TIMEOUT_DEFAULT_SEC;
        int opt;

        optind = 0;
        opterr = 0;     /* one line of our own, not getopt's */
        while ((opt = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (opt) {
                case 't':
                        if (parse_u32(optarg, &timeout) < 0 || timeout == 0 || timeout > WAIT_READY_TIMEOUT_MAX_SEC) {
                                fprintf(stderr, "wait-ready: bad --timeout '%s' (seconds, 1..%u).\n", optarg,
                                        WAIT_READY_TIMEOUT_MAX_SEC);
                                return -EINVAL;
                        }
                        break;
                case '?':
                        if (optopt == 't')
                                fprintf(stderr, "wait-ready: --timeout needs a value (seconds).\n");
                        else
                                fprintf(stderr, "wait-ready: unknown option '%s' (only --timeout SEC).\n",
                                        argv[optind - 1]);
                        return -EINVAL;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "wait-ready: unexpected argument '%s' (only --timeout SEC).\n", argv[optind]);
                return -EINVAL;
        }
        *ret_timeout_sec = timeout;
        return 0;
}

/* True when the agent wants a source rule or fail-closed route that the kernel lacks; ret_object then
 * names the first one. */
static bool guard_missing(json_t *status, const char **ret_object) {
        json_t *o;
        size_t i;

        json_array_foreach(json_object_get(status, "objects"), i, o) {
                const char *role = json_string_value(json_object_get(o, "role"));

                if (!role || !(streq(role, "source-rule") || streq(role, "fail-closed")))
                        continue;
                if (!json_is_true(json_object_get(o, "present"))) {
                        *ret_object = json_string_value(json_object_get(o, "object")) ?: role;
                        return true;
                }
        }
        return false;
}

int ctl_wait_ready(const CtlContext *c, int argc, char *argv[]) {
        _cleanup_(freep) char *path = NULL, *missing = NULL;
        uint64_t deadline, now;
        uint32_t timeout;
        int last = -ETIMEDOUT;

        if (wait_ready_parse_argv(argc, argv, &timeout) < 0)
                return CTL_EXIT_USAGE;
        if (asprintf(&path, "%s/io.vpnpolicy", c->runtime_dir) < 0)
                return CTL_EXIT_FAILURE;
        deadline = now_usec() + (uint64_t) timeout * 1000000U;

        while ((now = now_usec()) < deadline) {
                _cleanup_(freep) char *error = NULL;
                json_t *reply = NULL;
                const char *object;
                int r;

                r = varlink_call(path, "io.vpnpolicy.GetStatus", NULL, deadline - now, &reply, &error);
                if (r > 0) {
                        /* Refused (not root, not in ReadGroup=): asking again will not help. */
                        fprintf(stderr, "wait-ready: vpnpolicyd at %s refused GetStatus: %s\n", path, error);
                        json_decref(reply);
                        return CTL_EXIT_FAILURE;
                }
                if (r == 0 && !guard_missing(reply, &object)) {
                        printf("vpnpolicyd is ready: its source rules and fail-closed routes are in the kernel (%s).\n",
                               json_string_value(json_object_get(reply, "health")) ?: "unknown health");
                        json_decref(reply);
                        return CTL_EXIT_OK;
                }
                if (r == 0) {
                        free(missing);
                        missing = strdup(object);
                }
                last = r;
                json_decref(reply);
                now = now_usec();
                if (now < deadline)
                        sleep_usec(MIN(WAIT_READY_RETRY_USEC, deadline - now));
        }

        if (last == 0) {
                fprintf(stderr, "wait-ready: vpnpolicyd answers, but after %u s the kernel still lacks its %s: not "
                        "ready.\n", timeout, missing ?: "source rule or fail-closed route");
                return CTL_EXIT_DEGRADED;
        }
        fprintf(stderr, "wait-ready: vpnpolicyd did not answer at %s within %u s (%s): not ready, pool traffic "
                "would not be guarded.\n", path, timeout, strerror(-last));
        return CTL_EXIT_UNREACHABLE;
}
