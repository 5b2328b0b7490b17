/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The hook's reading of the agent's reply (varlink_client_reply_scan(), json_scan()) over arbitrary
 * bytes, checked against jansson: whatever the scanner accepts, jansson reads as an object with the same
 * "error" and "parameters"."reason"; whatever jansson reads strictly as an object (no duplicate keys,
 * not too deep), the scanner accepts. Either way the texts it keeps are UTF-8 without NUL. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json-scan.h"
#include "macro.h"
#include "utf8.h"
#include "varlink-client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_utf8(const char *s) {
        size_t n = strlen(s);

        for (size_t i = 0; i < n;) {
                uint32_t cp;
                int len = utf8_decode(s + i, n - i, &cp);

                if (len < 0)
                        abort();
                i += (size_t) len;
        }
}

/* The string member of j that the scanner kept: the same text, or a prefix of it if it was cut. */
static void check_same(json_t *j, const char *kept) {
        const char *full = json_is_string(j) ? json_string_value(j) : "";

        if (strlen(kept) >= VARLINK_REPLY_TEXT_MAX || strncmp(full, kept, strlen(kept)) != 0)
                abort();
        if (strlen(full) < VARLINK_REPLY_TEXT_MAX - 4 && !streq(full, kept))
                abort();
}

static size_t nesting_bytes(const uint8_t *data, size_t size) {
        size_t n = 0;

        for (size_t i = 0; i < size; i++)
                n += data[i] == '[' || data[i] == '{';
        return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char error[VARLINK_REPLY_TEXT_MAX], reason[VARLINK_REPLY_TEXT_MAX];
        json_t *j, *params;
        int r;

        r = varlink_client_reply_scan((const char *) data, size, error, reason);
        if (r >= 0) {
                json_error_t e;

                check_utf8(error);
                check_utf8(reason);
                /* Duplicates of members we do not read are no business of ours: jansson keeps the last. */
                j = json_loadb((const char *) data, size, JSON_ALLOW_NUL, &e);
                if (!j && json_error_code(&e) == json_error_numeric_overflow)
                        return 0;       /* jansson cannot hold 1e999; the grammar allows it */
                if (!json_is_object(j))
                        abort();        /* we accepted what jansson refuses */
                params = json_object_get(j, "parameters");
                if ((r == 1) != json_is_string(json_object_get(j, "error")))
                        abort();
                if (params && !json_is_object(params))
                        abort();
                if (r == 1)
                        check_same(json_object_get(j, "error"), error);
                check_same(json_object_get(params, "reason"), reason);
                json_decref(j);
                return 0;
        }
        /* jansson lets a raw NUL after a number pass ({"a":1\0}); the RFC does not, nor do we. A reply
         * never holds one: it ends at the first. */
        if (memchr(data, 0, size))
                return 0;
        j = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
        if (json_is_object(j) && nesting_bytes(data, size) < JSON_SCAN_DEPTH_MAX) {
                json_t *e = json_object_get(j, "error"), *p = json_object_get(j, "parameters"), *why;
                bool nul = false;

                /* Refused only for what the hook cannot use: a wrong kind, or a NUL in a text it keeps. */
                why = json_object_get(p, "reason");
                nul = (json_is_string(e) && strlen(json_string_value(e)) != json_string_length(e)) ||
                      (json_is_string(why) && strlen(json_string_value(why)) != json_string_length(why));
                if (!nul && (!e || json_is_string(e)) && (!p || json_is_object(p)))
                        abort();        /* a well-formed reply we would have misread as broken */
        }
        json_decref(j);
        return 0;
}
