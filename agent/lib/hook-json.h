/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The agent's side of hook.h: hook_request_parse()'s lookup over the RegisterTunnel parameters (a jansson
 * object, passed as userdata). A value that is not a string is not what OpenVPN passes: it reads as a bad
 * value, so the parser refuses it. */
const char *hook_json_lookup(const char *name, void *userdata);
