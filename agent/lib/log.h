/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>
#include <syslog.h>

#include "macro.h"

/* Logging goes to journald (with structured fields) when stderr is connected to the journal
 * ($JOURNAL_STREAM matches), else to stderr as "LEVEL: message". Only the manager, the control-socket
 * methods and main() log; library code returns -errno. */

void log_setup(void);
int log_set_max_level_from_string(const char *s);
void log_set_max_level(int level);
int log_get_max_level(void);

/* Fields are "KEY=value" strings, NULL-terminated list, e.g. VPNPOLICY_DEVICE=tun0. Returns -abs(error)
 * when error != 0, else 0, so callers can "return log_error_errno(r, ...)". %m expands to strerror(error). */
int log_internal(int level, int error, const char *const *fields, const char *format, ...) _printf_(4, 5);

#define log_full_errno(level, error, ...) log_internal((level), (error), NULL, __VA_ARGS__)
#define log_debug(...) log_internal(LOG_DEBUG, 0, NULL, __VA_ARGS__)
#define log_info(...) log_internal(LOG_INFO, 0, NULL, __VA_ARGS__)
#define log_notice(...) log_internal(LOG_NOTICE, 0, NULL, __VA_ARGS__)
#define log_warning(...) log_internal(LOG_WARNING, 0, NULL, __VA_ARGS__)
#define log_error(...) log_internal(LOG_ERR, 0, NULL, __VA_ARGS__)
#define log_debug_errno(e, ...) log_internal(LOG_DEBUG, (e), NULL, __VA_ARGS__)
#define log_info_errno(e, ...) log_internal(LOG_INFO, (e), NULL, __VA_ARGS__)
#define log_warning_errno(e, ...) log_internal(LOG_WARNING, (e), NULL, __VA_ARGS__)
#define log_error_errno(e, ...) log_internal(LOG_ERR, (e), NULL, __VA_ARGS__)

/* With structured fields: log_fields(LOG_INFO, 0, FIELDS("VPNPOLICY_DEVICE=tun0"), "...") */
#define FIELDS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define log_fields(level, error, fields, ...) log_internal((level), (error), (fields), __VA_ARGS__)
