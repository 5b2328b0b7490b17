/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The hook's input parser over arbitrary environments: NUL-separated "name=value" entries, then the
 * same request as the agent receives it: written by the hook's JSON writer, read by jansson as the agent
 * does, parsed again. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hook-json.h"
#include "hook.h"
#include "json-writer.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct Env {
        const char *entries[64];
        size_t n;
} Env;

static const char *env_lookup(const char *name, void *userdata) {
        Env *e = userdata;
        size_t len = strlen(name);

        for (size_t i = 0; i < e->n; i++)
                if (strncmp(e->entries[i], name, len) == 0 && e->entries[i][len] == '=')
                        return e->entries[i] + len + 1;
        return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(freep) char *copy = NULL, *text = NULL;
        char error[HOOK_ERROR_MAX];
        JsonWriter w = {};
        size_t text_size;
        HookRequest h, back;
        Env env = {};
        Prefix p[2];
        json_t *j;

        copy = malloc(size + 1);
        if (!copy)
                return 0;
        memcpy(copy, data, size);
        copy[size] = 0;
        for (char *s = copy; s < copy + size && env.n < ELEMENTSOF(env.entries); s += strlen(s) + 1)
                env.entries[env.n++] = s;
        if (hook_request_parse(env_lookup, &env, &h, error) < 0)
                return 0;
        (void) hook_request_subnets(&h, p);
        json_writer_object_begin(&w);
        hook_request_write(&h, &w);
        json_writer_object_end(&w);
        if (json_writer_finish(&w, &text, &text_size) < 0)
                abort();        /* what the parser accepted, the writer must write */
        j = json_loadb(text, text_size, JSON_REJECT_DUPLICATES, NULL);
        /* What the hook sends, the agent must read back as the same request. */
        if (!j || hook_request_parse(hook_json_lookup, j, &back, error) < 0)
                abort();
        if (memcmp(&h, &back, sizeof(h)) != 0)
                abort();
        json_decref(j);
        return 0;
}
