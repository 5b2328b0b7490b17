/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* NULL-terminated arrays of owned strings. */
char **strv_free(char **l);
size_t strv_length(char *const *l);
bool strv_contains(char *const *l, const char *s);
int strv_extend(char ***l, const char *s);            /* appends a copy */
int strv_extendf(char ***l, const char *fmt, ...) _printf_(2, 3);
char **strv_copy(char *const *l);
bool strv_equal(char *const *a, char *const *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);
#define _cleanup_strv_free_ _cleanup_(strv_freep)
#define STRV_FOREACH(s, l) for (char *const *s = (l); s && *s; s++)
