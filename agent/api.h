/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "varlink.h"

/* The io.vpnpolicy varlink methods. userdata is the Manager. */
void api_dispatch(VarlinkCall *call, const char *method, json_t *parameters, const VarlinkPeer *peer,
                  void *userdata);

/* The version of the GetStatus reply's layout (docs/status-schema.md). */
#define STATUS_SCHEMA_VERSION 1
