/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What OpenVPN's hooks told us, kept in the runtime directory so that a restarted agent still knows
 * which OpenVPN owns which tunnel. /run lasts as long as the tun devices do: a reboot forgets both. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs-util.h"
#include "log.h"
#include "manager.h"
#include "parse-util.h"

#define REGISTRATIONS_FILE "registrations.json"

static json_t *registration_json(const Registration *reg) {
        json_t *uid = reg->registered_by_uid == REGISTRATION_UID_UNKNOWN ? json_null() :
                      json_integer((json_int_t) reg->registered_by_uid);

        return json_pack("{s:s, s:i, s:s*, s:i, s:o, s:I}", "name", reg->name, "ifindex", reg->ifindex, "config",
                         reg->config, "daemon_pid", reg->daemon_pid, "registered_by_uid", uid, "registered_at",
                         (json_int_t) reg->registered_at);
}

int registrations_save(Manager *m) {
        _cleanup_(freep) char *path = NULL, *text = NULL;
        json_t *a = json_array();
        int r = 0;

        if (!a || asprintf(&path, "%s/" REGISTRATIONS_FILE, m->runtime_dir) < 0) {
                json_decref(a);
                return log_warning_errno(-ENOMEM, "Out of memory saving registrations, ignoring.");
        }
        for (Registration *reg = m->registrations; reg; reg = reg->hh.next)
                json_array_append_new(a, registration_json(reg));
        text = json_dumps(a, JSON_COMPACT);
        json_decref(a);
        /* Never through a name someone planted: the temp file is made O_EXCL|O_NOFOLLOW. */
        r = text ? write_file_atomic_at(AT_FDCWD, path, text, strlen(text), 0644) : -ENOMEM;
        if (r < 0)
                return log_warning_errno(r, "Failed to save %s, ignoring: %m. A restarted agent will not know "
                                         "which OpenVPN registered which tunnel.", path);
        return 0;
}

/* Who registered: a file of an older agent does not say, and then nobody is trusted (uid unknown). */
static uid_t registration_uid(json_t *v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) >= (json_int_t) REGISTRATION_UID_UNKNOWN)
                return REGISTRATION_UID_UNKNOWN;
        return (uid_t) json_integer_value(v);
}

/* config is null when the hook passed none: "s?s" would refuse the whole entry for that. */
static void registration_load_one(Manager *m, json_t *o) {
        const char *name = NULL, *config;
        json_int_t ifindex = 0, pid = 0, at = 0;
        json_t *uid = NULL, *c = NULL;
        Registration *reg;

        if (json_unpack(o, "{s:s, s:I, s?o, s:I, s?o, s:I}", "name", &name, "ifindex", &ifindex, "config", &c,
                        "daemon_pid", &pid, "registered_by_uid", &uid, "registered_at", &at) < 0 ||
            !ifname_valid(name) || ifindex <= 0 || (c && !json_is_string(c) && !json_is_null(c)))
                return;
        config = json_string_value(c);
        reg = calloc(1, sizeof(Registration));
        if (!reg)
                return;
        snprintf(reg->name, sizeof(reg->name), "%s", name);
        reg->ifindex = (int) ifindex;
        reg->config = config ? strdup(config) : NULL;
        reg->daemon_pid = (int) pid;
        reg->registered_by_uid = registration_uid(uid);
        reg->registered_at = (uint64_t) at;
        HASH_ADD_STR(m->registrations, name, reg);
}

/* Before the first dump: registered devices are managed from the start. Devices that are gone by then
 * are dropped by registrations_prune(). */
void registrations_load(Manager *m) {
        _cleanup_(freep) char *path = NULL;
        json_t *a, *o;
        size_t i;

        if (asprintf(&path, "%s/" REGISTRATIONS_FILE, m->runtime_dir) < 0)
                return;
        a = json_load_file(path, 0, NULL);
        if (!a)
                return;
        json_array_foreach(a, i, o)
                registration_load_one(m, o);
        json_decref(a);
        log_debug("Loaded %u registration(s) from %s.", HASH_COUNT(m->registrations), path);
}

void registrations_prune(Manager *m) {
        Registration *reg, *tmp;
        bool changed = false;

        HASH_ITER(hh, m->registrations, reg, tmp) {
                Link *l = link_by_name(m, reg->name);

                if (l && l->info.ifindex == reg->ifindex)
                        continue;
                HASH_DEL(m->registrations, reg);
                free(reg->config);
                free(reg);
                changed = true;
        }
        if (changed)
                (void) registrations_save(m);
}
