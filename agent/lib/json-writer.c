/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdio.h>

#include "json-writer.h"
#include "macro.h"
#include "utf8.h"

#define JSON_WRITER_BUFFER_MIN 256U

static void writer_fail(JsonWriter *w, int error) {
        if (w->error == 0)
                w->error = error;
}

static void writer_append(JsonWriter *w, const char *s, size_t n) {
        if (w->error < 0)
                return;
        if (n >= w->allocated - w->size || !w->buf) {
                size_t want = MAX(w->allocated, (size_t) JSON_WRITER_BUFFER_MIN);
                char *p;

                while (want - w->size <= n) {
                        if (want > SIZE_MAX / 2) {
                                writer_fail(w, -ENOMEM);
                                return;
                        }
                        want *= 2;
                }
                p = realloc(w->buf, want);
                if (!p) {
                        writer_fail(w, -ENOMEM);
                        return;
                }
                w->buf = p;
                w->allocated = want;
        }
        memcpy(w->buf + w->size, s, n);
        w->size += n;
        w->buf[w->size] = 0;
}

static void writer_char(JsonWriter *w, char c) {
        writer_append(w, &c, 1);
}

/* Before a value: it must follow a key, or be the one top-level value. */
static bool writer_value_allowed(JsonWriter *w) {
        if (w->error < 0)
                return false;
        if (w->depth == 0 ? w->done : !w->after_key) {
                writer_fail(w, -EINVAL);
                return false;
        }
        w->after_key = false;
        return true;
}

/* RFC 8259 section 7: '"', '\' and U+0000-U+001F must be escaped; DEL is escaped too, so that no
 * control character reaches a log verbatim. Bytes of valid UTF-8 sequences are copied. */
static void writer_escaped(JsonWriter *w, const char *s) {
        size_t n = strlen(s);

        writer_char(w, '"');
        for (size_t i = 0; i < n && w->error >= 0;) {
                unsigned char c = (unsigned char) s[i];
                const char *e = NULL;
                char u[8];
                uint32_t cp;
                int len;

                switch (c) {
                case '"':  e = "\\\""; break;
                case '\\': e = "\\\\"; break;
                case '\b': e = "\\b"; break;
                case '\f': e = "\\f"; break;
                case '\n': e = "\\n"; break;
                case '\r': e = "\\r"; break;
                case '\t': e = "\\t"; break;
                }
                if (e) {
                        writer_append(w, e, 2);
                        i++;
                } else if (c < 0x20 || c == 0x7f) {
                        snprintf(u, sizeof(u), "\\u%04x", c);
                        writer_append(w, u, 6);
                        i++;
                } else {
                        len = utf8_decode(s + i, n - i, &cp);
                        if (len < 0) {
                                writer_fail(w, len);
                                return;
                        }
                        writer_append(w, s + i, (size_t) len);
                        i += (size_t) len;
                }
        }
        writer_char(w, '"');
}

void json_writer_object_begin(JsonWriter *w) {
        if (!writer_value_allowed(w))
                return;
        if (w->depth >= JSON_WRITER_DEPTH_MAX) {
                writer_fail(w, -EINVAL);
                return;
        }
        w->has_member[w->depth++] = false;
        writer_char(w, '{');
}

void json_writer_object_end(JsonWriter *w) {
        if (w->error < 0)
                return;
        if (w->depth == 0 || w->after_key) {
                writer_fail(w, -EINVAL);
                return;
        }
        if (--w->depth == 0)
                w->done = true;
        writer_char(w, '}');
}

void json_writer_key(JsonWriter *w, const char *key) {
        if (w->error < 0)
                return;
        if (w->depth == 0 || w->after_key) {
                writer_fail(w, -EINVAL);
                return;
        }
        if (w->has_member[w->depth - 1])
                writer_char(w, ',');
        w->has_member[w->depth - 1] = true;
        writer_escaped(w, key);
        writer_char(w, ':');
        w->after_key = true;
}

void json_writer_string(JsonWriter *w, const char *s) {
        if (writer_value_allowed(w))
                writer_escaped(w, s);
}

void json_writer_uint(JsonWriter *w, uint64_t u) {
        char buf[24];
        int n;

        if (!writer_value_allowed(w))
                return;
        n = snprintf(buf, sizeof(buf), "%" PRIu64, u);
        writer_append(w, buf, (size_t) n);
}

void json_writer_member_string(JsonWriter *w, const char *key, const char *value) {
        json_writer_key(w, key);
        json_writer_string(w, value);
}

void json_writer_member_uint(JsonWriter *w, const char *key, uint64_t value) {
        json_writer_key(w, key);
        json_writer_uint(w, value);
}

void json_writer_done(JsonWriter *w) {
        free(w->buf);
        *w = (JsonWriter) {};
}

int json_writer_finish(JsonWriter *w, char **ret, size_t *ret_size) {
        int r = w->error < 0 ? w->error : !w->done ? -EINVAL : 0;

        if (r < 0) {
                json_writer_done(w);
                return r;
        }
        *ret = TAKE_PTR(w->buf);
        *ret_size = w->size;
        json_writer_done(w);
        return 0;
}
