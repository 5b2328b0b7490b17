/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs-util.h"
#include "links.h"
#include "macro.h"
#include "parse-util.h"
#include "registrations.h"

#define REGISTRATIONS_FILE "registrations.json"

static Registration *registration_free(Registration *reg) {
        free(reg->config);
        free(reg);
        return NULL;
}

void registrations_done(Registrations *rs) {
        Registration *reg, *tmp;

        HASH_ITER(hh, rs->by_name, reg, tmp) {
                HASH_DEL(rs->by_name, reg);
                registration_free(reg);
        }
        *rs = (Registrations) {};
}

Registration *registrations_get(Registrations *rs, const char *name) {
        Registration *reg;

        HASH_FIND_STR(rs->by_name, name, reg);
        return reg;
}

Registration *registrations_get_link(Registrations *rs, const char *name, int ifindex) {
        Registration *reg = registrations_get(rs, name);

        return reg && reg->ifindex == ifindex ? reg : NULL;
}

int registrations_record(Registrations *rs, const char *name, int ifindex, const char *config, int daemon_pid,
                         uid_t uid, uint64_t now) {
        Registration *reg = registrations_get(rs, name);
        char *c = NULL;

        /* A call waiting for its routes comes here on every pass: a change once. */
        if (reg && reg->ifindex == ifindex && reg->daemon_pid == daemon_pid && reg->registered_by_uid == uid &&
            streq_ptr(reg->config, config))
                return 0;
        if (config && !(c = strdup(config)))
                return -ENOMEM;
        if (!reg) {
                reg = calloc(1, sizeof(Registration));
                if (!reg) {
                        free(c);
                        return -ENOMEM;
                }
                snprintf(reg->name, sizeof(reg->name), "%s", name);
                HASH_ADD_STR(rs->by_name, name, reg);
        }
        free(reg->config);
        reg->config = c;
        reg->ifindex = ifindex;
        reg->daemon_pid = daemon_pid;
        reg->registered_by_uid = uid;
        reg->registered_at = now;
        rs->changed = true;
        return 1;
}

bool registrations_drop(Registrations *rs, const char *name, int ifindex) {
        Registration *reg = registrations_get_link(rs, name, ifindex);

        if (!reg)
                return false;
        HASH_DEL(rs->by_name, reg);
        registration_free(reg);
        rs->changed = true;
        return true;
}

bool registrations_take_changed(Registrations *rs) {
        bool c = rs->changed;

        rs->changed = false;
        return c;
}

Registration *registrations_get_root(Registrations *rs, const char *name, int ifindex) {
        Registration *reg = registrations_get(rs, name);

        if (!reg || reg->registered_by_uid != 0 || (ifindex > 0 && reg->ifindex != ifindex))
                return NULL;
        return reg;
}

static json_t *registration_json(const Registration *reg) {
        json_t *uid = reg->registered_by_uid == REGISTRATION_UID_UNKNOWN ? json_null() :
                      json_integer((json_int_t) reg->registered_by_uid);

        return json_pack("{s:s, s:i, s:s*, s:i, s:o, s:I}", "name", reg->name, "ifindex", reg->ifindex, "config",
                         reg->config, "daemon_pid", reg->daemon_pid, "registered_by_uid", uid, "registered_at",
                         (json_int_t) reg->registered_at);
}

int registrations_save(const Registrations *rs, const char *dir) {
        _cleanup_(freep) char *path = NULL, *text = NULL;
        json_t *a = json_array();

        if (!a || asprintf(&path, "%s/" REGISTRATIONS_FILE, dir) < 0) {
                json_decref(a);
                return -ENOMEM;
        }
        for (const Registration *reg = rs->by_name; reg; reg = reg->hh.next)
                json_array_append_new(a, registration_json(reg));
        text = json_dumps(a, JSON_COMPACT);
        json_decref(a);
        /* Never through a name someone planted: the temp file is made O_EXCL|O_NOFOLLOW. */
        return text ? write_file_atomic_at(AT_FDCWD, path, text, strlen(text), 0644) : -ENOMEM;
}

/* Who registered: a file of an older agent does not say, and then nobody is trusted (uid unknown). */
static uid_t registration_uid(json_t *v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) >= (json_int_t) REGISTRATION_UID_UNKNOWN)
                return REGISTRATION_UID_UNKNOWN;
        return (uid_t) json_integer_value(v);
}

/* config is null when the hook passed none: "s?s" would refuse the whole entry for that. */
static void registration_load_one(Registrations *rs, json_t *o) {
        const char *name = NULL;
        json_int_t ifindex = 0, pid = 0, at = 0;
        json_t *uid = NULL, *c = NULL;

        if (json_unpack(o, "{s:s, s:I, s?o, s:I, s?o, s:I}", "name", &name, "ifindex", &ifindex, "config", &c,
                        "daemon_pid", &pid, "registered_by_uid", &uid, "registered_at", &at) < 0 ||
            !ifname_valid(name) || ifindex <= 0 || ifindex > INT32_MAX ||
            (c && !json_is_string(c) && !json_is_null(c)))
                return;
        if (registrations_record(rs, name, (int) ifindex, json_string_value(c), (int) pid, registration_uid(uid),
                                 (uint64_t) at) < 0)
                return;
}

int registrations_load(Registrations *rs, const char *dir) {
        _cleanup_(freep) char *path = NULL;
        json_t *a, *o;
        size_t i;

        if (asprintf(&path, "%s/" REGISTRATIONS_FILE, dir) < 0)
                return -ENOMEM;
        a = json_load_file(path, 0, NULL);
        if (!a)
                return 0;
        json_array_foreach(a, i, o)
                registration_load_one(rs, o);
        json_decref(a);
        return (int) HASH_COUNT(rs->by_name);
}

bool registrations_prune(Registrations *rs, struct Links *links) {
        Registration *reg, *tmp;
        bool changed = false;

        HASH_ITER(hh, rs->by_name, reg, tmp) {
                Link *l = links_get(links, reg->ifindex);

                if (l && streq(l->info.name, reg->name))
                        continue;
                HASH_DEL(rs->by_name, reg);
                registration_free(reg);
                changed = true;
        }
        if (changed)
                rs->changed = true;
        return changed;
}
