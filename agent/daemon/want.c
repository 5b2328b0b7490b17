/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>

#include "manager.h"

/* A restored object may be re-added this many times in a burst, then this many times a second: a
 * deletion fight with another process must not eat the CPU. */
#define RESTORE_BURST 10.0
#define RESTORE_RATE 2.0

Want *want_get(Manager *m, const ObjectKey *key) {
        Want *w;

        HASH_FIND(hh, m->want, key, sizeof(*key), w);
        return w;
}

static Want *want_new(Manager *m, const ObjectKey *key) {
        Want *w = calloc(1, sizeof(Want));

        if (!w)
                return NULL;
        w->key = *key;
        w->tokens = RESTORE_BURST;
        HASH_ADD(hh, m->want, key, sizeof(w->key), w);
        return w;
}

static Want *want_free(Manager *m, Want *w) {
        HASH_DEL(m->want, w);
        free(w->last_error_text);
        free(w);
        return NULL;
}

void want_set(Manager *m, const Object *o, ObjectRole role, const char *blocked) {
        ObjectKey key = object_key(o);
        Want *w = want_get(m, &key);

        if (!w) {
                w = want_new(m, &key);
                if (!w)
                        return;         /* out of memory: the object stays unwanted, resync will retry */
                w->obj = *o;
                manager_mark_dirty(m, &key);
        } else if (!object_content_equal(&w->obj, o) || w->blocked != blocked) {
                w->obj = *o;
                w->failures = 0;
                w->retry_at = 0;
                manager_mark_dirty(m, &key);
        }
        w->role = role;
        w->blocked = blocked;
        w->mark = true;
}

void want_unset(Manager *m, const ObjectKey *key) {
        Want *w = want_get(m, key);

        if (!w)
                return;
        if (w->failures > 0)
                m->n_failing--;
        manager_mark_dirty(m, key);
        want_free(m, w);
}

/* Rebuilding a role's set: begin (clear marks), want_set() each, sweep what was not set again. */
void want_begin_role(Manager *m, ObjectRole role) {
        for (Want *w = m->want; w; w = w->hh.next)
                if (w->role == role)
                        w->mark = false;
}

void want_sweep_role(Manager *m, ObjectRole role) {
        Want *w, *tmp;

        HASH_ITER(hh, m->want, w, tmp) {
                if (w->role != role)
                        continue;
                if (!w->mark)
                        want_unset(m, &w->key);
        }
}

void want_free_all(Manager *m) {
        Want *w, *tmp;

        HASH_ITER(hh, m->want, w, tmp)
                want_free(m, w);
}

bool want_is_present(Manager *m, const Want *w) {
        Have *h;

        HASH_FIND(hh, m->have, &w->key, sizeof(w->key), h);
        return h && object_satisfies(&h->obj, &w->obj);
}

/* Token bucket: true if a restore may go out now, else *ret_wait says when. */
bool want_take_restore_token(Want *w, uint64_t now, uint64_t *ret_wait) {
        double elapsed = w->tokens_at > 0 ? (double) (now - w->tokens_at) / 1e6 : 0;

        w->tokens = MIN(RESTORE_BURST, w->tokens + elapsed * RESTORE_RATE);
        w->tokens_at = now;
        if (w->tokens >= 1.0) {
                w->tokens -= 1.0;
                return true;
        }
        *ret_wait = (uint64_t) ((1.0 - w->tokens) / RESTORE_RATE * 1e6) + 1;
        return false;
}
