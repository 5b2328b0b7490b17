/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

/* Strict number parsers: decimal only, no sign, no blanks, no junk, overflow is -ERANGE. */
int parse_u32(const char *s, uint32_t *ret);
int parse_u64(const char *s, uint64_t *ret);

/* A time span as systemd writes them (systemd.time(7)): "500ms", "2.5s", "1min 30s", "2 h"; a bare number
 * is seconds. Units us/usec, ms/msec, s/sec/second(s), m/min/minute(s), h/hr/hour(s), d/day(s). Strict: no
 * sign, no empty part, blanks only between parts, no fraction finer than a microsecond, no unit-less
 * number but alone; overflow is -ERANGE. */
int parse_timespan(const char *s, uint64_t *ret_usec);

/* The shortest exact form parse_timespan() reads back: "0", "1s 500ms", "1min 30s", "1h". */
#define TIMESPAN_STRLEN 64
const char *format_timespan(uint64_t usec, char buf[static TIMESPAN_STRLEN]);

/* yes/no/true/false/on/off/1/0, case-insensitive. */
int parse_bool(const char *s, bool *ret);
const char *yes_no(bool b);

/* An interface name the kernel would accept and that is safe to print and pass on:
 * 1..15 characters of [A-Za-z0-9_.-], not "." or "..", no leading '-'; see dev_valid_name() in
 * net/core/dev.c. */
bool ifname_valid(const char *s);

/* A table or protocol name as iproute2 reads it: [A-Za-z_][A-Za-z0-9_.-]*, at most 63 characters. */
bool rt_name_valid(const char *s);

/* shell-style glob match for Match= patterns (fnmatch(3) without flags). */
bool glob_match(const char *pattern, const char *s);
