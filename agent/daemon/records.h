/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <uthash.h>

#include "object.h"

/* The one table of kernel objects the daemon cares about: every rule and route we want, every object of
 * ours the kernel holds, one compact record each, keyed by the kernel's own identity (object.h). A record
 * carries what we want (role and content), what the kernel holds (present, matching or not), and the
 * history status shows. Only this file writes records: the derivations (policy.c, tunnels.c) call
 * records_want()/records_unwant(), the inputs (observed.c) and the acks (reconcile.c) call
 * records_held()/records_gone()/records_acked(). Nothing here does I/O or knows the Manager, so the
 * planner's unit tests run on it.
 *
 * Roles and clashes: the kernel holds one object per identity, so one role holds a record. A claim by a
 * role of higher precedence (object_role_precedence()) takes the record over; a claim of lower or equal
 * precedence by another owner is refused (-EBUSY) and counted: the policy's own objects always win, and
 * a derived object (a tun route, a mirrored route) can never displace one. */

typedef enum BlockReason {
        BLOCK_NONE,
        BLOCK_DEVICE_DOWN,              /* the kernel refuses routes via a device that is down */
        BLOCK_DEVICE_MISSING,           /* [Gateway] Device= does not exist */
        BLOCK_NO_GATEWAY,               /* no usable gateway of this family */
        _BLOCK_MAX,
} BlockReason;

const char *block_reason_to_string(BlockReason b);

enum {
        RECORD_WANTED = 1 << 0,
        RECORD_HELD = 1 << 1,           /* the kernel holds an object of ours with this identity */
        RECORD_MATCHES = 1 << 2,        /* ... and it is what we want */
        RECORD_SEEN = 1 << 3,           /* held since it was wanted: the next add is a restore */
        RECORD_DIRTY = 1 << 4,          /* on the dirty list */
        RECORD_INFLIGHT = 1 << 5,       /* an operation is out: not freed until its ack */
        RECORD_VERIFIED = 1 << 6,       /* reported by the dump under way */
        RECORD_SOURCE_SEEN = 1 << 7,    /* its source (address, main-table route) seen by the derivation under way */
        RECORD_ONLINK = 1 << 8,
        RECORD_GATEWAY = 1 << 9,
        RECORD_THROTTLE_LOGGED = 1 << 10,
        RECORD_CHANGED = 1 << 11,       /* the wanted content changed since the last operation was planned */
        RECORD_HELD_OTHER = 1 << 12,    /* held, not wanted, and the kernel's content is not the record's */
};

/* What only objects in trouble need: allocated on the first failure or restore. */
typedef struct RecordTrouble {
        unsigned failures;              /* consecutive */
        int last_error;
        char *last_error_text;
        uint64_t retry_at;              /* CLOCK_MONOTONIC; 0: now */
        double tokens;                  /* restore rate limit (token bucket) */
        uint64_t tokens_at;
} RecordTrouble;

typedef struct Record {
        ObjectKey key;
        UT_hash_handle hh;
        struct Record *dirty_next;
        struct Record *oif_next;        /* in the list of its device (records_oif_first()) */
        InAddrUnion gateway;            /* routes: wanted content, or what the kernel holds for a stale one */
        int32_t oif;                    /* 0: none, or left to the kernel */
        int32_t held_oif;               /* the device of the route the kernel holds */
        uint16_t flags;
        uint8_t role;                   /* ObjectRole; ROLE_STALE when held and not wanted */
        uint8_t type;
        uint8_t scope;
        uint8_t block;                  /* BlockReason: why a wanted object cannot be sent now */
        uint32_t restores;
        uint64_t present_since;         /* CLOCK_REALTIME; 0 while absent */
        RecordTrouble *trouble;
} Record;

typedef struct OifList {
        int ifindex;
        Record *head;
        UT_hash_handle hh;
} OifList;

#define RECORD_TABLES_MAX 64

typedef struct RecordTable {
        Record *records;
        Record *dirty;                  /* records with RECORD_DIRTY, newest first */
        bool all_dirty;                 /* look at every record: after a full dump */
        OifList *oifs;
        size_t n_wanted;
        size_t n_failing;               /* wanted records whose last operation failed */
        uint64_t clashes;               /* claims refused because another role held the identity */
        uint64_t displaced;             /* records taken over by a role of higher precedence */
        uint64_t held_changes;          /* times the kernel's side of a record changed */
        /* The tables whose objects with our protocol are ours: the configured ones and those of earlier
         * configurations. Everything else with our protocol number is left alone. */
        uint32_t tables[RECORD_TABLES_MAX];
        size_t n_tables;
} RecordTable;

void records_init(RecordTable *t);
void records_done(RecordTable *t);

Record *records_get(RecordTable *t, const ObjectKey *key);
size_t records_count(const RecordTable *t);

/* Claims the identity of o for role, with the content of o. -EBUSY: another role holds it (the claim is
 * counted as a clash and nothing changes). */
int records_want(RecordTable *t, const Object *o, ObjectRole role, BlockReason block, Record **ret);
/* Gives up a claim: only the role (and, for derived roles, the device) that holds it. */
void records_unwant(RecordTable *t, const Object *o, ObjectRole role);
void records_unwant_record(RecordTable *t, Record *r);
void records_set_block(RecordTable *t, Record *r, BlockReason block);

/* The kernel reports an object of ours (o->protocol is ours, o->table is ours). */
void records_held(RecordTable *t, const Object *o);
/* ... and that it is gone. */
void records_gone(RecordTable *t, const ObjectKey *key);
void records_gone_record(RecordTable *t, Record *r);
/* Gone because the kernel flushed it with its device or address (nobody deleted it): adding it back is no
 * restore, and not rate-limited as one. */
void records_flushed_record(RecordTable *t, Record *r);

bool records_table_is_ours(const RecordTable *t, uint32_t table);
/* Remembers a table as ours (idempotent). -ENOSPC when RECORD_TABLES_MAX are remembered already. */
int records_add_table(RecordTable *t, uint32_t table);

void records_mark_dirty(RecordTable *t, Record *r);
/* Frees the record if nothing refers to it any more (not wanted, not held, no operation out). */
void records_gc(RecordTable *t, Record *r);

/* The records whose route goes via a device (the wanted device, or the kernel's for those that leave it
 * to the kernel). Safe to free the current one while iterating if the next was taken first. */
Record *records_oif_first(RecordTable *t, int ifindex);

/* Present: wanted, held, and what we want. */
static inline bool record_present(const Record *r) {
        return (r->flags & (RECORD_WANTED | RECORD_HELD | RECORD_MATCHES)) ==
               (RECORD_WANTED | RECORD_HELD | RECORD_MATCHES);
}

static inline bool record_wanted(const Record *r) {
        return r->flags & RECORD_WANTED;
}

/* The object as a netlink request builder wants it. */
void record_to_object(const Record *r, uint8_t protocol, Object *ret);

RecordTrouble *record_trouble(Record *r);
unsigned record_failures(const Record *r);
