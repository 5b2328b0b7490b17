/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* jansson's, declared here so that ctl-hook.c, which the hook shares, needs no jansson. */
typedef struct json_t json_t;

/* vpnpolicyctl exit codes, documented in vpnpolicyctl(8). */
#define CTL_EXIT_OK 0
#define CTL_EXIT_FAILURE 1
#define CTL_EXIT_USAGE 2
#define CTL_EXIT_DEGRADED 3
#define CTL_EXIT_UNREACHABLE 4

#define CTL_TIMEOUT_USEC (10U * 1000000U)

typedef struct CtlContext {
        const char *runtime_dir;
        bool json;
} CtlContext;

/* Calls a method of the agent; on failure prints why and returns the exit code to use (> 0). */
int ctl_call(const CtlContext *c, const char *method, json_t *parameters, json_t **ret_reply);

int ctl_status(const CtlContext *c, int argc, char *argv[]);
int ctl_metrics(const CtlContext *c, int argc, char *argv[]);
int ctl_explain(const CtlContext *c, int argc, char *argv[]);
int ctl_doctor(const CtlContext *c, int argc, char *argv[]);
int ctl_teardown(const CtlContext *c, int argc, char *argv[]);
int ctl_wait_ready(const CtlContext *c, int argc, char *argv[]);
/* OpenVPN's up hook: argv[0] is the verb or the program, options follow, then OpenVPN's arguments. */
int ctl_openvpn_hook(int argc, char *argv[]);
