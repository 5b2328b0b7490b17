/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A small JSON writer (RFC 8259) for what the OpenVPN hook sends: objects of strings and numbers, written
 * compactly into a growing buffer, with libc alone (the hook links nothing else). Strings are escaped:
 * '"', '\' and every control character (U+0000-U+001F, and U+007F for the logs' sake); a string that is
 * not valid UTF-8 is refused, never sent half-escaped. The first failure sticks: later calls do nothing
 * and json_writer_finish() returns it. */

#define JSON_WRITER_DEPTH_MAX 8U

typedef struct JsonWriter {
        char *buf;
        size_t size, allocated;
        int error;                      /* 0, or the first failure */
        unsigned depth;                 /* open objects */
        bool has_member[JSON_WRITER_DEPTH_MAX]; /* the object at this depth has one: the next needs ',' */
        bool after_key;                 /* a key was written, its value must follow */
        bool done;                      /* the top-level object is closed */
} JsonWriter;

void json_writer_object_begin(JsonWriter *w);
void json_writer_object_end(JsonWriter *w);
void json_writer_key(JsonWriter *w, const char *key);
void json_writer_string(JsonWriter *w, const char *s);
void json_writer_uint(JsonWriter *w, uint64_t u);

void json_writer_member_string(JsonWriter *w, const char *key, const char *value);
void json_writer_member_uint(JsonWriter *w, const char *key, uint64_t value);

/* The text (one object, NUL-terminated, *ret_size without the NUL), handed over to the caller. -EILSEQ
 * if a string was not UTF-8, -EINVAL if the calls did not make one whole object, -ENOMEM. The writer is
 * empty afterwards in every case. */
int json_writer_finish(JsonWriter *w, char **ret, size_t *ret_size);
/* Frees what an unfinished writer holds. */
void json_writer_done(JsonWriter *w);
