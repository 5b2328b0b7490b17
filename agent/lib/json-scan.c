/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "json-scan.h"
#include "macro.h"
#include "utf8.h"

/* Keys longer than this are checked but match no field (none of ours is that long). */
#define JSON_SCAN_KEY_MAX 64U

typedef struct Scanner {
        const char *p, *end;
        JsonScanField *fields;
        size_t n_fields;
} Scanner;

/* Where a string's decoded text goes, if anywhere. */
typedef struct Sink {
        char *buf;
        size_t size, len;
        bool truncated, has_nul;
} Sink;

static void skip_space(Scanner *s) {
        /* RFC 8259 section 2: these four and no others. */
        while (s->p < s->end && IN_SET(*s->p, ' ', '\t', '\n', '\r'))
                s->p++;
}

static bool take(Scanner *s, char c) {
        if (s->p >= s->end || *s->p != c)
                return false;
        s->p++;
        return true;
}

static void sink_put(Sink *k, uint32_t cp) {
        char b[4];
        size_t n;

        if (!k)
                return;
        if (cp == 0) {
                k->has_nul = true;
                return;
        }
        if (k->truncated)
                return;
        n = utf8_encode(cp, b);
        if (k->len + n >= k->size) {
                k->truncated = true;    /* a whole character or none: the text stays UTF-8 */
                return;
        }
        memcpy(k->buf + k->len, b, n);
        k->len += n;
        k->buf[k->len] = 0;
}

static int scan_hex4(Scanner *s, uint32_t *ret) {
        uint32_t v = 0;

        if (s->end - s->p < 4)
                return -EBADMSG;
        for (unsigned i = 0; i < 4; i++) {
                char c = *s->p++;

                v <<= 4;
                if (c >= '0' && c <= '9')
                        v |= (uint32_t) (c - '0');
                else if (c >= 'a' && c <= 'f')
                        v |= (uint32_t) (c - 'a' + 10);
                else if (c >= 'A' && c <= 'F')
                        v |= (uint32_t) (c - 'A' + 10);
                else
                        return -EBADMSG;
        }
        *ret = v;
        return 0;
}

/* \uXXXX, a surrogate pair as two of them (RFC 8259 section 7); an unpaired surrogate is refused, as
 * jansson and most readers do. */
static int scan_unicode_escape(Scanner *s, uint32_t *ret) {
        uint32_t hi, lo;

        if (scan_hex4(s, &hi) < 0 || (hi >= 0xdc00 && hi <= 0xdfff))
                return -EBADMSG;
        if (hi < 0xd800 || hi > 0xdbff) {
                *ret = hi;
                return 0;
        }
        if (!take(s, '\\') || !take(s, 'u') || scan_hex4(s, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
                return -EBADMSG;
        *ret = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
        return 0;
}

static int scan_escape(Scanner *s, uint32_t *ret) {
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *e;

        if (s->p >= s->end)
                return -EBADMSG;
        if (take(s, 'u'))
                return scan_unicode_escape(s, ret);
        e = memchr(from, *s->p, sizeof(from) - 1);
        if (!e)
                return -EBADMSG;
        s->p++;
        *ret = (unsigned char) to[e - from];
        return 0;
}

static int scan_string(Scanner *s, Sink *k) {
        if (!take(s, '"'))
                return -EBADMSG;
        for (;;) {
                unsigned char c;
                uint32_t cp;
                int n;

                if (s->p >= s->end)
                        return -EBADMSG;
                c = (unsigned char) *s->p;
                if (c == '"') {
                        s->p++;
                        return 0;
                }
                if (c < 0x20)
                        return -EBADMSG;        /* control characters must be escaped */
                if (c == '\\') {
                        s->p++;
                        if (scan_escape(s, &cp) < 0)
                                return -EBADMSG;
                } else {
                        n = utf8_decode(s->p, (size_t) (s->end - s->p), &cp);
                        if (n < 0)
                                return -EBADMSG;
                        s->p += n;
                }
                sink_put(k, cp);
        }
}

static bool scan_digits(Scanner *s) {
        const char *start = s->p;

        while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
                s->p++;
        return s->p > start;
}

/* -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)? */
static int scan_number(Scanner *s) {
        (void) take(s, '-');
        if (!take(s, '0')) {
                if (s->p >= s->end || *s->p < '1' || *s->p > '9')
                        return -EBADMSG;
                (void) scan_digits(s);
        }
        if (take(s, '.') && !scan_digits(s))
                return -EBADMSG;
        if (take(s, 'e') || take(s, 'E')) {
                if (!take(s, '+'))
                        (void) take(s, '-');
                if (!scan_digits(s))
                        return -EBADMSG;
        }
        return 0;
}

static int scan_literal(Scanner *s, const char *word) {
        size_t n = strlen(word);

        if ((size_t) (s->end - s->p) < n || memcmp(s->p, word, n) != 0)
                return -EBADMSG;
        s->p += n;
        return 0;
}

static JsonScanField *field_find(Scanner *s, const char *parent, const char *key) {
        for (size_t i = 0; i < s->n_fields; i++) {
                JsonScanField *f = &s->fields[i];

                if (parent ? f->subkey && streq(f->key, parent) && streq(f->subkey, key) :
                             !f->subkey && streq(f->key, key))
                        return f;
        }
        return NULL;
}

static bool field_is_parent(Scanner *s, const char *key) {
        for (size_t i = 0; i < s->n_fields; i++)
                if (s->fields[i].subkey && streq(s->fields[i].key, key))
                        return true;
        return false;
}

static int scan_value(Scanner *s, unsigned depth, const char *parent, JsonScanField *f);

/* depth: this object's, 1 for the top level. parent: the top-level key whose members are picked here. */
static int scan_object(Scanner *s, unsigned depth, const char *parent) {
        if (depth > JSON_SCAN_DEPTH_MAX || !take(s, '{'))
                return -EBADMSG;
        skip_space(s);
        if (take(s, '}'))
                return 0;
        for (;;) {
                char key[JSON_SCAN_KEY_MAX];
                Sink k = { .buf = key, .size = sizeof(key) };
                JsonScanField *f = NULL;
                const char *child_parent = NULL;
                int r;

                key[0] = 0;
                skip_space(s);
                r = scan_string(s, &k);
                if (r < 0)
                        return r;
                if (k.has_nul)
                        return -EBADMSG;        /* as jansson: no reader can tell such a key from another */
                skip_space(s);
                if (!take(s, ':'))
                        return -EBADMSG;
                if (!k.truncated && depth == 1) {
                        f = field_find(s, NULL, key);
                        child_parent = field_is_parent(s, key) ? key : NULL;
                } else if (!k.truncated && depth == 2 && parent)
                        f = field_find(s, parent, key);
                if (f && f->kind != JSON_KIND_ABSENT)
                        return -EBADMSG;        /* twice: which one a reader takes is not defined */
                r = scan_value(s, depth, child_parent, f);
                if (r < 0)
                        return r;
                skip_space(s);
                if (take(s, '}'))
                        return 0;
                if (!take(s, ','))
                        return -EBADMSG;
        }
}

static int scan_array(Scanner *s, unsigned depth) {
        if (depth > JSON_SCAN_DEPTH_MAX || !take(s, '['))
                return -EBADMSG;
        skip_space(s);
        if (take(s, ']'))
                return 0;
        for (;;) {
                int r = scan_value(s, depth, NULL, NULL);

                if (r < 0)
                        return r;
                skip_space(s);
                if (take(s, ']'))
                        return 0;
                if (!take(s, ','))
                        return -EBADMSG;
        }
}

static int scan_string_value(Scanner *s, JsonScanField *f) {
        Sink k = { .buf = f ? f->value : NULL, .size = f ? f->size : 0 };
        int r;

        r = scan_string(s, k.buf ? &k : NULL);
        if (r < 0)
                return r;
        if (k.has_nul)
                return -EBADMSG;
        if (f)
                f->truncated = k.truncated;
        return 0;
}

/* One value; depth is that of the object or array that holds it (0 for the top level). */
static int scan_value(Scanner *s, unsigned depth, const char *parent, JsonScanField *f) {
        JsonKind kind;
        int r;

        skip_space(s);
        if (s->p >= s->end)
                return -EBADMSG;
        switch (*s->p) {
        case '{':
                kind = JSON_KIND_OBJECT;
                r = scan_object(s, depth + 1, parent);
                break;
        case '[':
                kind = JSON_KIND_ARRAY;
                r = scan_array(s, depth + 1);
                break;
        case '"':
                kind = JSON_KIND_STRING;
                r = scan_string_value(s, f);
                break;
        case 't':
        case 'f':
                kind = JSON_KIND_BOOLEAN;
                r = scan_literal(s, *s->p == 't' ? "true" : "false");
                break;
        case 'n':
                kind = JSON_KIND_NULL;
                r = scan_literal(s, "null");
                break;
        default:
                kind = JSON_KIND_NUMBER;
                r = scan_number(s);
        }
        if (r < 0)
                return r;
        if (f)
                f->kind = kind;
        return 0;
}

static void fields_reset(JsonScanField *fields, size_t n_fields) {
        for (size_t i = 0; i < n_fields; i++) {
                fields[i].kind = JSON_KIND_ABSENT;
                fields[i].truncated = false;
                if (fields[i].value && fields[i].size > 0)
                        fields[i].value[0] = 0;
        }
}

/* A subkey is picked only below its own field, so that a second object of that name is refused. */
static bool fields_valid(const JsonScanField *fields, size_t n_fields) {
        for (size_t i = 0; i < n_fields; i++) {
                bool parent_listed = false;

                if (!fields[i].key || (fields[i].value && fields[i].size == 0))
                        return false;
                for (size_t j = 0; fields[i].subkey && j < n_fields; j++)
                        if (!fields[j].subkey && streq(fields[j].key, fields[i].key))
                                parent_listed = true;
                if (fields[i].subkey && !parent_listed)
                        return false;
        }
        return true;
}

int json_scan(const char *text, size_t size, JsonScanField *fields, size_t n_fields) {
        Scanner s = { .p = text, .end = text + size, .fields = fields, .n_fields = n_fields };
        int r;

        if (!fields_valid(fields, n_fields))
                return -EINVAL;
        fields_reset(fields, n_fields);
        skip_space(&s);
        r = s.p < s.end && *s.p == '{' ? scan_value(&s, 0, NULL, NULL) : -EBADMSG;
        if (r >= 0) {
                skip_space(&s);
                if (s.p != s.end)
                        r = -EBADMSG;
        }
        if (r < 0)
                fields_reset(fields, n_fields);
        return r;
}
