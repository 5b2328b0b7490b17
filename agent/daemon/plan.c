/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "plan.h"

static const char *const op_action_table[_OP_MAX] = {
        [OP_ADD] = "add",
        [OP_REPLACE] = "replace",
        [OP_DELETE] = "delete",
};

const char *op_action_to_string(OpAction a) {
        return a < _OP_MAX ? op_action_table[a] : NULL;
}

static int plan_push(Plan *p, OpAction action, Record *r) {
        if (p->n == p->allocated) {
                size_t a = MAX(p->allocated * 2, (size_t) 64);
                Op *ops = reallocarray(p->ops, a, sizeof(Op));
                if (!ops)
                        return -ENOMEM;
                p->ops = ops;
                p->allocated = a;
        }
        r->flags = (uint16_t) ((r->flags | RECORD_INFLIGHT) & ~RECORD_CHANGED);
        p->ops[p->n++] = (Op) { r, (uint8_t) action };
        return 0;
}

static void plan_wait(Plan *p, uint64_t at) {
        if (p->next_retry == 0 || at < p->next_retry)
                p->next_retry = at;
}

/* Token bucket: true if a restore may go out now, else *ret_wait says in how long. */
static bool take_restore_token(RecordTrouble *tr, uint64_t now, uint64_t *ret_wait) {
        double elapsed = tr->tokens_at > 0 ? (double) (now - tr->tokens_at) / 1e6 : 0;

        tr->tokens = MIN(10.0, tr->tokens + elapsed * PLAN_RESTORE_RATE);
        tr->tokens_at = now;
        if (tr->tokens >= 1.0) {
                tr->tokens -= 1.0;
                return true;
        }
        *ret_wait = (uint64_t) ((1.0 - tr->tokens) / PLAN_RESTORE_RATE * 1e6) + 1;
        return false;
}

/* An add of an object the kernel held before is a restore, rate-limited per object; retries after a
 * failure have their own backoff. */
static bool plan_may_add(Plan *p, Record *r) {
        RecordTrouble *tr = r->trouble;
        uint64_t wait;

        if (tr && tr->retry_at > p->now) {
                plan_wait(p, tr->retry_at);
                return false;
        }
        if (!(r->flags & RECORD_SEEN) || (tr && tr->failures > 0))
                return true;
        tr = record_trouble(r);
        if (!tr || take_restore_token(tr, p->now, &wait))
                return true;
        tr->retry_at = p->now + wait;
        plan_wait(p, tr->retry_at);
        p->throttled++;
        if (!(r->flags & RECORD_THROTTLE_LOGGED) && p->on_throttle)
                p->on_throttle(r, p->userdata);
        r->flags |= RECORD_THROTTLE_LOGGED;
        return false;
}

static void mark_present(Record *r, uint64_t now_realtime) {
        if (r->present_since == 0)
                r->present_since = now_realtime;
        r->flags |= RECORD_SEEN;
}

static int plan_record(Plan *p, Record *r) {
        if (r->flags & RECORD_INFLIGHT)
                return 0;       /* its ack is due first; the ack marks it dirty again if needed */
        if (!record_wanted(r))
                return r->flags & RECORD_HELD ? plan_push(p, OP_DELETE, r) : 0;
        if (r->block != BLOCK_NONE) {
                /* When it can be sent again, adding it is no restore. */
                r->present_since = 0;
                r->flags &= (uint16_t) ~RECORD_SEEN;
                return 0;
        }
        if (record_present(r)) {
                mark_present(r, p->now_realtime);
                return 0;
        }
        r->present_since = 0;
        if (!plan_may_add(p, r))
                return 0;
        return plan_push(p, r->flags & RECORD_HELD ? OP_REPLACE : OP_ADD, r);
}

static int op_rank(const Op *op) {
        if (op->action == OP_DELETE)
                return 0;
        return op->record->flags & RECORD_GATEWAY ? 2 : 1;
}

/* A stable partition by rank, in linear time (a burst of 100,000 routes is one plan). */
static int plan_order(Plan *p) {
        size_t count[3] = {}, start[3];
        Op *sorted;

        if (p->n < 2)
                return 0;
        for (size_t i = 0; i < p->n; i++)
                count[op_rank(&p->ops[i])]++;
        if (count[0] == p->n || count[1] == p->n || count[2] == p->n)
                return 0;
        sorted = malloc(p->n * sizeof(Op));
        if (!sorted)
                return -ENOMEM;
        start[0] = 0;
        start[1] = count[0];
        start[2] = count[0] + count[1];
        for (size_t i = 0; i < p->n; i++)
                sorted[start[op_rank(&p->ops[i])]++] = p->ops[i];
        free(p->ops);
        p->ops = sorted;
        p->allocated = p->n;
        return 0;
}

/* Takes the dirty list; records the plan does not keep are freed if nothing refers to them. */
static int plan_dirty(RecordTable *t, Plan *p) {
        Record *r = t->dirty;
        int k = 0;

        t->dirty = NULL;
        while (r) {
                Record *next = r->dirty_next;

                r->flags &= (uint16_t) ~RECORD_DIRTY;
                r->dirty_next = NULL;
                if (k >= 0)
                        k = plan_record(p, r);
                if (k < 0)
                        records_mark_dirty(t, r);       /* not looked at: next time */
                else
                        records_gc(t, r);
                r = next;
        }
        return k;
}

static int plan_all(RecordTable *t, Plan *p) {
        Record *r, *tmp;
        int k;

        /* Clears the dirty list first: every record is looked at anyway. */
        for (r = t->dirty; r; r = tmp) {
                tmp = r->dirty_next;
                r->flags &= (uint16_t) ~RECORD_DIRTY;
                r->dirty_next = NULL;
        }
        t->dirty = NULL;
        t->all_dirty = false;
        HASH_ITER(hh, t->records, r, tmp) {
                k = plan_record(p, r);
                if (k < 0) {
                        t->all_dirty = true;
                        return k;
                }
                records_gc(t, r);
        }
        return 0;
}

int plan_build(RecordTable *t, Plan *p) {
        int k = t->all_dirty ? plan_all(t, p) : plan_dirty(t, p);
        int o = plan_order(p);

        return k < 0 ? k : o;
}

static uint64_t retry_delay(unsigned failures) {
        uint64_t d = PLAN_RETRY_MIN_USEC;

        for (unsigned i = 1; i < failures && d < PLAN_RETRY_MAX_USEC; i++)
                d *= 2;
        return MIN(d, (uint64_t) PLAN_RETRY_MAX_USEC);
}

static AckResult ack_success(RecordTable *t, Plan *p, Op *op) {
        Record *r = op->record;
        bool restore;

        if (op->action == OP_DELETE) {
                r->flags &= (uint16_t) ~(RECORD_HELD | RECORD_MATCHES | RECORD_HELD_OTHER);
                return ACK_DONE;
        }
        restore = (r->flags & RECORD_SEEN) && record_failures(r) == 0 && op->action == OP_ADD;
        r->flags |= RECORD_HELD;
        /* Changed while the operation was out: what the kernel holds now is the old content. */
        if (r->flags & RECORD_CHANGED)
                records_mark_dirty(t, r);
        else
                r->flags |= RECORD_MATCHES;
        if (r->oif > 0)
                r->held_oif = r->oif;
        if (r->trouble) {
                if (r->trouble->failures > 0)
                        t->n_failing--;
                r->trouble->failures = 0;
                r->trouble->last_error = 0;
                r->trouble->retry_at = 0;
        }
        if (restore)
                r->restores++;
        if (record_present(r))
                mark_present(r, p->now_realtime);
        else
                records_mark_dirty(t, r);       /* unwanted or changed while it was out */
        return restore ? ACK_RESTORED : ACK_DONE;
}

static AckResult ack_failure(RecordTable *t, Plan *p, Op *op, int error, const char *text) {
        Record *r = op->record;
        RecordTrouble *tr;
        AckResult result;

        if (!record_wanted(r) || op->action == OP_DELETE) {
                /* A failed delete is retried by the next full look (verification or resync). */
                return ACK_FAILED_FIRST;
        }
        tr = record_trouble(r);
        if (!tr)
                return ACK_FAILED;
        result = tr->failures == 0 ? ACK_FAILED_FIRST : ACK_FAILED;
        if (tr->failures++ == 0)
                t->n_failing++;
        tr->last_error = error;
        free(tr->last_error_text);
        tr->last_error_text = text ? strdup(text) : NULL;
        tr->retry_at = p->now + retry_delay(tr->failures);
        plan_wait(p, tr->retry_at);
        return result;
}

AckResult plan_ack(RecordTable *t, Plan *p, size_t index, int error, const char *text) {
        Op *op = &p->ops[index];

        /* Gone already is what a delete wants. */
        if (op->action == OP_DELETE && (error == -ENOENT || error == -ESRCH))
                error = 0;
        return error == 0 ? ack_success(t, p, op) : ack_failure(t, p, op, error, text);
}

void plan_done(RecordTable *t, Plan *p) {
        for (size_t i = 0; i < p->n; i++) {
                Record *r = p->ops[i].record;

                r->flags &= (uint16_t) ~RECORD_INFLIGHT;
                records_gc(t, r);
        }
        free(p->ops);
        p->ops = NULL;
        p->n = p->allocated = 0;
}

uint64_t plan_retry_due(RecordTable *t, uint64_t now) {
        uint64_t next = 0;

        for (Record *r = t->records; r; r = r->hh.next) {
                RecordTrouble *tr = r->trouble;

                if (!tr || (tr->retry_at == 0 && tr->failures == 0))
                        continue;
                if (tr->retry_at <= now) {
                        tr->retry_at = 0;
                        records_mark_dirty(t, r);
                } else if (next == 0 || tr->retry_at < next)
                        next = tr->retry_at;
        }
        return next;
}

void plan_retry_failing(RecordTable *t) {
        if (t->n_failing == 0)
                return;
        for (Record *r = t->records; r; r = r->hh.next)
                if (r->trouble && r->trouble->failures > 0) {
                        r->trouble->retry_at = 0;
                        records_mark_dirty(t, r);
                }
}
