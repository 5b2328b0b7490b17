/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <jansson.h>
#include <stdio.h>

/* The metrics of vpnpolicy in the Prometheus text format (expo.h), from the daemon's GetMetrics reply
 * (docs/monitoring.md); shared by `vpnpolicyctl metrics` and the HTTP endpoint, so both print the same.
 * Pure: nothing here talks to the daemon. Every family is listed in vpnpolicyctl(8), METRICS. */

/* The agent answered: vpnpolicy_up 1 and everything the reply holds. A family the reply has no data for
 * is left out (no made-up values): gateway health, probe figures and failovers appear once the daemon
 * reports them. Fields of the wrong type are skipped. -EINVAL when reply is not an object; the writer's
 * errors otherwise. */
int metrics_render(FILE *f, json_t *reply);

/* The agent could not be asked: vpnpolicy_up 0 and nothing else, a valid file for the textfile
 * collector all the same. */
int metrics_render_down(FILE *f);

/* The content type of the output, for HTTP. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
