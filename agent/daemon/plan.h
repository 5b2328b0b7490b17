/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "records.h"

/* The planner: which records need an operation now, pure logic over the record table (no I/O), so the
 * unit tests run it on a table they fill by hand. reconcile.c sends the plan and feeds the acks back with
 * plan_ack(). */

typedef enum OpAction {
        OP_ADD,
        OP_REPLACE,
        OP_DELETE,
        _OP_MAX,
} OpAction;

const char *op_action_to_string(OpAction a);

typedef struct Op {
        Record *record;         /* pinned by RECORD_INFLIGHT until plan_ack() */
        uint8_t action;
} Op;

typedef void (*plan_throttle_t)(Record *r, void *userdata);

typedef struct Plan {
        Op *ops;
        size_t n, allocated;
        uint64_t now;           /* CLOCK_MONOTONIC */
        uint64_t now_realtime;
        uint64_t next_retry;    /* earliest time something waits for; 0: none */
        unsigned throttled;     /* restores held back by the rate limit this time */
        plan_throttle_t on_throttle;    /* the first time a record is throttled (for a log line) */
        void *userdata;
} Plan;

/* Restore rate limit: a burst of this many, then this many per second, per object. */
#define PLAN_RESTORE_RATE 2.0
/* Retry backoff after a failed operation: doubles from the minimum to the maximum. */
#define PLAN_RETRY_MIN_USEC (100U * 1000U)
#define PLAN_RETRY_MAX_USEC (30U * 1000000U)

/* Takes the dirty records (all of them with t->all_dirty) and plans their operations: deletes first,
 * then rules and routes via a device, then routes via a gateway (a gateway on a tunnel is only accepted
 * once the route that reaches it is in the table: fib_check_nh() in net/ipv4/fib_semantics.c). */
int plan_build(RecordTable *t, Plan *p);

typedef enum AckResult {
        ACK_DONE,
        ACK_RESTORED,           /* an add of an object the kernel had held before */
        ACK_FAILED_FIRST,       /* the first failure of a series: worth a log line */
        ACK_FAILED,
} AckResult;

/* An operation's ack. error 0 or -errno; text the kernel's explanation (may be NULL). */
AckResult plan_ack(RecordTable *t, Plan *p, size_t index, int error, const char *text);
/* Frees what the plan pinned and whatever the acks left unused. */
void plan_done(RecordTable *t, Plan *p);

/* When the retry timer fires: every record whose wait is over is looked at again. Returns when the next
 * of those still waiting is due (0: none). */
uint64_t plan_retry_due(RecordTable *t, uint64_t now);
/* Something changed that may make failed operations succeed (a device or an address appeared). */
void plan_retry_failing(RecordTable *t);
