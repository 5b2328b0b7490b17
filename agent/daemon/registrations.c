/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
        if (reg && reg->ifindex == ifindex && reg->daemon_pid == daemon_pid && reg->uid == uid &&
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
        reg->uid = uid;
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

static json_t *registration_json(const Registration *reg) {
        return json_pack("{s:s, s:i, s:s*, s:i, s:I, s:I}", "name", reg->name, "ifindex", reg->ifindex, "config",
                         reg->config, "daemon_pid", reg->daemon_pid, "uid", (json_int_t) reg->uid,
                         "registered_at", (json_int_t) reg->registered_at);
}

int registrations_save(const Registrations *rs, const char *dir) {
        _cleanup_(freep) char *path = NULL, *tmp = NULL;
        json_t *a = json_array();
        int r = 0;

        if (!a || asprintf(&path, "%s/" REGISTRATIONS_FILE, dir) < 0 || asprintf(&tmp, "%s.tmp", path) < 0) {
                json_decref(a);
                return -ENOMEM;
        }
        for (const Registration *reg = rs->by_name; reg; reg = reg->hh.next)
                json_array_append_new(a, registration_json(reg));
        if (json_dump_file(a, tmp, JSON_COMPACT) < 0 || rename(tmp, path) < 0) {
                r = -EIO;
                (void) unlink(tmp);
        }
        json_decref(a);
        return r;
}

static void registration_load_one(Registrations *rs, json_t *o) {
        const char *name = NULL, *config = NULL;
        json_int_t ifindex = 0, pid = 0, at = 0, uid = 0;

        /* Files from before "uid" was kept were written for root only. */
        if (json_unpack(o, "{s:s, s:I, s?s, s:I, s?I, s:I}", "name", &name, "ifindex", &ifindex, "config", &config,
                        "daemon_pid", &pid, "uid", &uid, "registered_at", &at) < 0 || !ifname_valid(name) ||
            ifindex <= 0 || ifindex > INT32_MAX || uid < 0 || uid > UINT32_MAX)
                return;
        if (registrations_record(rs, name, (int) ifindex, config, (int) pid, (uid_t) uid, (uint64_t) at) > 0)
                registrations_get(rs, name)->registered_at = (uint64_t) at;
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
