/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <linux/rtnetlink.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The record table is hashed on every event: uthash's default (Jenkins, byte at a time) costs about as
 * much as the rest of a lookup. Keys here are a 28-byte ObjectKey or an int, so a word-at-a-time mix
 * (murmur3's finalizer per word) does with a fraction of the instructions. Only this file hashes records. */
static inline uint32_t records_hash(const void *key, size_t len) {
        const uint8_t *p = key;
        uint32_t h = 0x9747b28cU ^ (uint32_t) len, w;

        for (; len >= 4; len -= 4, p += 4) {
                memcpy(&w, p, 4);
                w *= 0xcc9e2d51U;
                w = (w << 15) | (w >> 17);
                h ^= w * 0x1b873593U;
                h = ((h << 13) | (h >> 19)) * 5 + 0xe6546b64U;
        }
        for (; len > 0; len--, p++)
                h = (h ^ *p) * 0x01000193U;
        h ^= h >> 16;
        h *= 0x85ebca6bU;
        h ^= h >> 13;
        h *= 0xc2b2ae35U;
        return h ^ (h >> 16);
}
#define HASH_FUNCTION(keyptr, keylen, hashv) ((hashv) = records_hash((keyptr), (keylen)))

#include "records.h"

/* A restored object may be re-added this many times in a burst, then this many times a second. */
#define RESTORE_BURST 10.0

static const char *const block_reason_table[_BLOCK_MAX] = {
        [BLOCK_NONE] = NULL,
        [BLOCK_DEVICE_DOWN] = "the device is down",
        [BLOCK_DEVICE_MISSING] = "the gateway device does not exist",
        [BLOCK_NO_GATEWAY] = "no usable gateway",
};

const char *block_reason_to_string(BlockReason b) {
        return b >= 0 && b < _BLOCK_MAX ? block_reason_table[b] : NULL;
}

void records_init(RecordTable *t) {
        *t = (RecordTable) {};
}

static void record_free(Record *r) {
        if (r->trouble)
                free(r->trouble->last_error_text);
        free(r->trouble);
        free(r);
}

void records_done(RecordTable *t) {
        Record *r, *tmp;
        OifList *l, *ltmp;

        HASH_ITER(hh, t->records, r, tmp) {
                HASH_DEL(t->records, r);
                record_free(r);
        }
        HASH_ITER(hh, t->oifs, l, ltmp) {
                HASH_DEL(t->oifs, l);
                free(l);
        }
        *t = (RecordTable) {};
}

Record *records_get(RecordTable *t, const ObjectKey *key) {
        Record *r;

        HASH_FIND(hh, t->records, key, sizeof(*key), r);
        return r;
}

/* The same, for a key whose hash the caller keeps for record_new(). */
static Record *records_get_hashed(RecordTable *t, const ObjectKey *key, unsigned hashv) {
        Record *r;

        HASH_FIND_BYHASHVALUE(hh, t->records, key, sizeof(*key), hashv, r);
        return r;
}

size_t records_count(const RecordTable *t) {
        return HASH_COUNT(t->records);
}

bool records_table_is_ours(const RecordTable *t, uint32_t table) {
        for (size_t i = 0; i < t->n_tables; i++)
                if (t->tables[i] == table)
                        return true;
        return false;
}

int records_add_table(RecordTable *t, uint32_t table) {
        if (records_table_is_ours(t, table))
                return 0;
        if (t->n_tables >= RECORD_TABLES_MAX)
                return -ENOSPC;
        t->tables[t->n_tables++] = table;
        return 0;
}

void records_mark_dirty(RecordTable *t, Record *r) {
        if (r->flags & RECORD_DIRTY)
                return;
        r->flags |= RECORD_DIRTY;
        r->dirty_next = t->dirty;
        t->dirty = r;
}

/* The device list a route is on: its own device, or the one the kernel chose for it. */
static int record_list_oif(const Record *r) {
        if (r->key.kind != OBJECT_ROUTE)
                return 0;
        return r->oif > 0 ? r->oif : r->held_oif;
}

static OifList *oif_list(RecordTable *t, int ifindex, bool create) {
        OifList *l;

        HASH_FIND_INT(t->oifs, &ifindex, l);
        if (l || !create)
                return l;
        l = calloc(1, sizeof(OifList));
        if (!l)
                return NULL;
        l->ifindex = ifindex;
        HASH_ADD_INT(t->oifs, ifindex, l);
        return l;
}

static void oif_unlink(RecordTable *t, Record *r, int ifindex) {
        OifList *l = ifindex > 0 ? oif_list(t, ifindex, false) : NULL;

        if (!l)
                return;
        for (Record **p = &l->head; *p; p = &(*p)->oif_next)
                if (*p == r) {
                        *p = r->oif_next;
                        break;
                }
        r->oif_next = NULL;
        if (!l->head) {
                HASH_DEL(t->oifs, l);
                free(l);
        }
}

/* Moves the record to the list of its device after oif or held_oif changed from old. Out of memory
 * leaves it on no list: only the inference of silent flushes misses it, and verification repairs that. */
static void record_relink(RecordTable *t, Record *r, int old) {
        int now = record_list_oif(r);
        OifList *l;

        if (now == old)
                return;
        oif_unlink(t, r, old);
        l = now > 0 ? oif_list(t, now, true) : NULL;
        if (!l)
                return;
        r->oif_next = l->head;
        l->head = r;
}

Record *records_oif_first(RecordTable *t, int ifindex) {
        OifList *l = oif_list(t, ifindex, false);

        return l ? l->head : NULL;
}

static Record *record_new(RecordTable *t, const ObjectKey *key, unsigned hashv) {
        Record *r = calloc(1, sizeof(Record));

        if (!r)
                return NULL;
        r->key = *key;
        r->role = ROLE_STALE;
        HASH_ADD_BYHASHVALUE(hh, t->records, key, sizeof(r->key), hashv, r);
        return r;
}

void records_gc(RecordTable *t, Record *r) {
        if (r->flags & (RECORD_WANTED | RECORD_HELD | RECORD_INFLIGHT | RECORD_DIRTY))
                return;
        oif_unlink(t, r, record_list_oif(r));
        HASH_DEL(t->records, r);
        record_free(r);
}

void record_to_object(const Record *r, uint8_t protocol, Object *ret) {
        Object o = {
                .kind = r->key.kind,
                .family = r->key.family,
                .table = r->key.table,
                .priority = r->key.priority,
                .prefix = { .family = r->key.family, .prefixlen = r->key.prefixlen },
                .protocol = protocol,
                .type = r->type,
                .scope = r->scope,
                .oif = r->oif,
                .onlink = r->flags & RECORD_ONLINK,
                .has_gateway = r->flags & RECORD_GATEWAY,
                .gateway = r->gateway,
        };

        if (r->key.flags & OBJECT_KEY_IIF)
                memcpy(o.iifname, r->key.addr, sizeof(r->key.addr));
        else if (r->key.flags & OBJECT_KEY_FWMARK) {
                memcpy(&o.fwmark, r->key.addr, sizeof(o.fwmark));
                memcpy(&o.fwmask, r->key.addr + sizeof(o.fwmark), sizeof(o.fwmask));
        } else
                memcpy(o.prefix.addr.bytes, r->key.addr, family_addr_size(r->key.family));
        *ret = o;
}

/* The content fields of a record, from an object with its identity. The caller moves it to its device's
 * list afterwards (record_relink()). */
static void record_set_content(Record *r, const Object *o) {
        r->type = o->type;
        r->scope = o->scope;
        r->oif = o->oif;
        r->gateway = o->has_gateway ? o->gateway : (InAddrUnion) {};
        r->flags &= (uint16_t) ~(RECORD_ONLINK | RECORD_GATEWAY);
        if (o->onlink)
                r->flags |= RECORD_ONLINK;
        if (o->has_gateway)
                r->flags |= RECORD_GATEWAY;
}

static bool record_content_equal(const Record *r, const Object *o) {
        Object mine;

        record_to_object(r, o->protocol, &mine);
        return object_content_equal(&mine, o);
}

/* Whether what the kernel holds (k) is what the record wants; a device left to the kernel may be any. */
static bool record_satisfied_by(const Record *r, const Object *k) {
        Object want;

        record_to_object(r, k->protocol, &want);
        return object_satisfies(k, &want);
}

static bool claim_refused(const Record *r, const Object *o, ObjectRole role) {
        if (!(r->flags & RECORD_WANTED))
                return false;
        if (r->role != role)
                return object_role_precedence(role) <= object_role_precedence(r->role);
        /* One tun route per subnet: a second device with the same subnet waits for the first to go. A
         * mirrored route follows the main table, which holds one route per identity: the newest wins. */
        return role == ROLE_TUN_ROUTE && r->oif != o->oif;
}

/* A new start for the retries: the table counts the wanted records whose last operation failed
 * (plan_retry_failing() relies on it), so the count follows. */
static void record_clear_failures(RecordTable *t, Record *r) {
        if (!r->trouble)
                return;
        if (r->trouble->failures > 0 && (r->flags & RECORD_WANTED))
                t->n_failing--;
        r->trouble->failures = 0;
        r->trouble->retry_at = 0;
}

static void record_want_content(RecordTable *t, Record *r, const Object *o) {
        bool was_wanted = r->flags & RECORD_WANTED;

        if (was_wanted && record_content_equal(r, o))
                return;
        if (!was_wanted && (r->flags & RECORD_HELD)) {
                /* Adopting what the kernel holds: a stale record's content is the kernel's, unless it was
                 * unwanted while the kernel held something else (then a replace makes sure). */
                bool known = !(r->flags & RECORD_HELD_OTHER);
                Object held;

                record_to_object(r, o->protocol, &held);
                held.oif = r->held_oif;
                record_set_content(r, o);
                r->flags &= (uint16_t) ~RECORD_HELD_OTHER;
                if (known && record_satisfied_by(r, &held))
                        r->flags |= RECORD_MATCHES;
                else
                        r->flags &= (uint16_t) ~RECORD_MATCHES;
                return;
        }
        /* What the kernel holds was compared with the old content: replace it to be sure. */
        record_set_content(r, o);
        r->flags &= (uint16_t) ~RECORD_MATCHES;
        r->flags |= RECORD_CHANGED;
        record_clear_failures(t, r);
}

int records_want(RecordTable *t, const Object *o, ObjectRole role, BlockReason block, Record **ret) {
        ObjectKey key = object_key(o);
        unsigned hashv;
        Record *r;
        bool changed;
        int old;

        HASH_VALUE(&key, sizeof(key), hashv);
        r = records_get_hashed(t, &key, hashv);
        if (r && claim_refused(r, o, role)) {
                t->clashes++;
                return -EBUSY;
        }
        if (r && (r->flags & RECORD_WANTED) && r->role != role)
                t->displaced++;
        if (!r) {
                r = record_new(t, &key, hashv);
                if (!r)
                        return -ENOMEM;
        }
        changed = !(r->flags & RECORD_WANTED) || r->role != role || r->block != block ||
                  !record_content_equal(r, o);
        old = record_list_oif(r);
        record_want_content(t, r, o);
        record_relink(t, r, old);
        if (!(r->flags & RECORD_WANTED)) {
                r->flags = (uint16_t) ((r->flags | RECORD_WANTED) & ~RECORD_SEEN);
                t->n_wanted++;
        }
        r->role = (uint8_t) role;
        r->block = (uint8_t) block;
        r->flags |= RECORD_SOURCE_SEEN;
        if (changed)
                records_mark_dirty(t, r);
        if (ret)
                *ret = r;
        return 0;
}

void records_unwant_record(RecordTable *t, Record *r) {
        if (!(r->flags & RECORD_WANTED))
                return;
        /* Failures of what we no longer want are no one's: a later claim starts afresh. */
        record_clear_failures(t, r);
        /* The record keeps the content we wanted; if the kernel held other content, it is unknown now. */
        if ((r->flags & RECORD_HELD) && !(r->flags & RECORD_MATCHES))
                r->flags |= RECORD_HELD_OTHER;
        r->flags &= (uint16_t) ~(RECORD_WANTED | RECORD_SEEN | RECORD_MATCHES);
        r->role = ROLE_STALE;
        r->block = BLOCK_NONE;
        r->present_since = 0;
        t->n_wanted--;
        if (r->flags & RECORD_HELD)
                records_mark_dirty(t, r);       /* to be removed */
        else
                records_gc(t, r);
}

void records_unwant(RecordTable *t, const Object *o, ObjectRole role) {
        ObjectKey key = object_key(o);
        Record *r = records_get(t, &key);

        if (!r || !(r->flags & RECORD_WANTED) || r->role != role)
                return;
        if ((role == ROLE_TUN_ROUTE || role == ROLE_MIRROR_ROUTE) && r->oif != o->oif)
                return;         /* another device's claim */
        records_unwant_record(t, r);
}

void records_set_block(RecordTable *t, Record *r, BlockReason block) {
        if (r->block == block)
                return;
        r->block = (uint8_t) block;
        records_mark_dirty(t, r);
}

void records_held(RecordTable *t, const Object *o) {
        ObjectKey key = object_key(o);
        unsigned hashv;
        uint16_t before;
        Record *r;
        int old;

        HASH_VALUE(&key, sizeof(key), hashv);
        r = records_get_hashed(t, &key, hashv);
        if (!r) {
                r = record_new(t, &key, hashv);
                if (!r)
                        return;
        }
        before = r->flags;
        old = record_list_oif(r);
        r->held_oif = o->oif;
        if (r->flags & RECORD_WANTED) {
                if (record_satisfied_by(r, o))
                        r->flags |= RECORD_MATCHES;
                else
                        r->flags &= (uint16_t) ~RECORD_MATCHES;
        } else {
                record_set_content(r, o);
                r->flags &= (uint16_t) ~RECORD_HELD_OTHER;
        }
        record_relink(t, r, old);
        r->flags |= RECORD_HELD | RECORD_VERIFIED;
        if ((r->flags ^ before) & (RECORD_HELD | RECORD_MATCHES)) {
                t->held_changes++;
                records_mark_dirty(t, r);
        } else if (!(r->flags & RECORD_WANTED))
                records_mark_dirty(t, r);
}

void records_gone_record(RecordTable *t, Record *r) {
        if (!(r->flags & RECORD_HELD))
                return;
        r->flags &= (uint16_t) ~(RECORD_HELD | RECORD_MATCHES | RECORD_HELD_OTHER);
        r->present_since = 0;
        t->held_changes++;
        if (r->flags & RECORD_WANTED)
                records_mark_dirty(t, r);
        else
                records_gc(t, r);
}

void records_flushed_record(RecordTable *t, Record *r) {
        r->flags &= (uint16_t) ~RECORD_SEEN;
        records_gone_record(t, r);
}

void records_gone(RecordTable *t, const ObjectKey *key) {
        Record *r = records_get(t, key);

        if (r)
                records_gone_record(t, r);
}

RecordTrouble *record_trouble(Record *r) {
        if (!r->trouble) {
                r->trouble = calloc(1, sizeof(RecordTrouble));
                if (r->trouble)
                        r->trouble->tokens = RESTORE_BURST;
        }
        return r->trouble;
}

unsigned record_failures(const Record *r) {
        return r->trouble ? r->trouble->failures : 0;
}
