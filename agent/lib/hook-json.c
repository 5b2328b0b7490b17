/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <jansson.h>

#include "hook-json.h"

const char *hook_json_lookup(const char *name, void *userdata) {
        json_t *v = json_object_get(userdata, name);

        /* "\x01" fails every check of hook_request_parse(), naming the variable. */
        if (v && !json_is_string(v))
                return "\x01";
        return v ? json_string_value(v) : NULL;
}
