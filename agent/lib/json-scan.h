/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* A strict JSON checker (RFC 8259) that keeps only a few members, for the hook's reading of the agent's
 * reply with libc alone: no tree is built. The whole text is checked, so a garbled or hostile reply is
 * refused as a whole rather than half read: one object and nothing after it but white space, UTF-8 only
 * (strict: no overlong forms, no surrogates), escapes and numbers exactly as the RFC's grammar has them,
 * no unpaired surrogate escapes, no raw control characters in strings, no U+0000 in keys, nesting at
 * most JSON_SCAN_DEPTH_MAX deep. A member asked for that appears twice is refused too, since readers
 * differ on which one counts. */

#define JSON_SCAN_DEPTH_MAX 64U

typedef enum JsonKind {
        JSON_KIND_ABSENT,
        JSON_KIND_STRING,
        JSON_KIND_NUMBER,
        JSON_KIND_OBJECT,
        JSON_KIND_ARRAY,
        JSON_KIND_BOOLEAN,
        JSON_KIND_NULL,
} JsonKind;

/* A member to pick: key of the top-level object, or with subkey, member subkey of the object that is
 * member key (found only if that one is an object). */
typedef struct JsonScanField {
        const char *key;
        const char *subkey;
        char *value;                    /* NULL, or where a string's value goes: decoded, NUL-terminated, */
        size_t size;                    /* cut at a character boundary to fit size bytes */
        JsonKind kind;                  /* out: what was there */
        bool truncated;                 /* out: the string did not fit */
} JsonScanField;

/* Checks text[0, size) and fills the fields. A string value kept in ->value must not contain U+0000
 * (it could not be told from the end). -EBADMSG when the text is not what the comment above says. */
int json_scan(const char *text, size_t size, JsonScanField *fields, size_t n_fields);
