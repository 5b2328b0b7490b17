/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uthash.h>

/* What OpenVPN's up hooks told us: the sole owner of Registration. Kept in the runtime directory so a
 * restarted agent still knows which OpenVPN owns which tunnel; /run lasts as long as the tun devices do. */

typedef struct Registration {
        char name[IFNAMSIZ];
        int ifindex;
        char *config;           /* OpenVPN's config path, as the hook passed it */
        int daemon_pid;
        uid_t registered_by_uid; /* the caller; REGISTRATION_UID_UNKNOWN: loaded from an older agent's file */
        uint64_t registered_at; /* CLOCK_REALTIME */
        UT_hash_handle hh;      /* by name */
} Registration;

#define REGISTRATION_UID_UNKNOWN ((uid_t) -1)

typedef struct Registrations {
        Registration *by_name;
        bool changed;           /* the pass looks at the tunnels again */
} Registrations;

struct Links;

void registrations_done(Registrations *rs);
Registration *registrations_get(Registrations *rs, const char *name);
/* The registration of this very device (name and index), or NULL. */
Registration *registrations_get_link(Registrations *rs, const char *name, int ifindex);

/* Root's registration of this device (ifindex 0: of a device of this name), or NULL. Non-root callers
 * (RegisterUser=, RegisterGroup=; OpenVPN's up hook after it dropped root, at --up-restart) may only
 * confirm one: otherwise they could make any tun ours, and give root's doctor a path to open. */
Registration *registrations_get_root(Registrations *rs, const char *name, int ifindex);

/* Returns 1 when something changed (and it should be saved), 0 when it was known as it is. */
int registrations_record(Registrations *rs, const char *name, int ifindex, const char *config, int daemon_pid,
                         uid_t uid, uint64_t now);
/* The device is gone: forget what was said of it. Returns whether anything was forgotten. */
bool registrations_drop(Registrations *rs, const char *name, int ifindex);

/* Whether anything changed since the last call. */
bool registrations_take_changed(Registrations *rs);

int registrations_save(const Registrations *rs, const char *dir);
/* Before the first dump: registered devices are managed from the start. Returns how many. */
int registrations_load(Registrations *rs, const char *dir);
/* After the first dump: drops those whose device is gone. Returns whether any was dropped. */
bool registrations_prune(Registrations *rs, struct Links *links);
