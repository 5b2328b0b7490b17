/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The gateway verdict's hysteresis (agent/daemon/health.c), as vpnpolicy.conf(5) states it. */
#include <string.h>

#include "health.h"
#include "tests.h"

static char why[HEALTH_REASON_MAX];

static ProbeConfig probe(void) {
        return (ProbeConfig) { .enabled = true, .fall = 3, .rise = 3, .loss_max_percent = 20 };
}

/* Feeds a pattern: '.' answered (1 ms), 'x' lost, 's' answered in 50 ms. Returns how many changes. */
static unsigned feed(Health *h, const ProbeConfig *c, const char *pattern) {
        unsigned changes = 0;

        for (const char *p = pattern; *p; p++)
                changes += health_probe(h, c, *p != 'x', *p == 's' ? 50000 : 1000, why);
        return changes;
}

static void test_first_verdict(void) {
        ProbeConfig c = probe();
        Health h;

        health_init(&h, true);
        ASSERT_INT(h.state, HEALTH_PROBING);
        ASSERT_INT(feed(&h, &c, "."), 1);          /* one answer: up (nothing was down) */
        ASSERT_INT(h.state, HEALTH_UP);
        ASSERT(strstr(why, "answered"));

        health_init(&h, true);
        ASSERT_INT(feed(&h, &c, "xx"), 0);         /* two losses: no verdict yet */
        ASSERT_INT(h.state, HEALTH_PROBING);
        ASSERT_INT(feed(&h, &c, "x"), 1);
        ASSERT_INT(h.state, HEALTH_DOWN);
        ASSERT_STREQ(why, "3 probes lost in a row");
}

static void test_fall_and_rise(void) {
        ProbeConfig c = probe();
        Health h;

        health_init(&h, true);
        feed(&h, &c, ".");
        /* Two lost in a row, again and again, less than FailCount=3 and at most 2 in 10: stays up. */
        ASSERT_INT(feed(&h, &c, "xx........xx........"), 0);
        ASSERT_INT(h.state, HEALTH_UP);
        ASSERT_INT(feed(&h, &c, "xxx"), 1);
        ASSERT_INT(h.state, HEALTH_DOWN);
        /* Two answers then a loss, again and again: never RiseCount=3 in a row, stays down. */
        ASSERT_INT(feed(&h, &c, "..x..x..x..x"), 0);
        ASSERT_INT(h.state, HEALTH_DOWN);
        /* Three in a row, but 3 of the last 10 lost: still too lossy to come back ... */
        ASSERT_INT(feed(&h, &c, ".x.x.x..."), 0);
        ASSERT_INT(feed(&h, &c, ".."), 0);
        ASSERT_INT(h.state, HEALTH_DOWN);
        /* ... until the oldest of them leaves the window. */
        ASSERT_INT(feed(&h, &c, "."), 1);
        ASSERT_INT(h.state, HEALTH_UP);
        ASSERT_STREQ(why, "6 probes answered in a row");
}

static void test_outage_then_clean(void) {
        ProbeConfig c = probe();
        Health h;

        /* A total outage fills the window with losses, but they are an outage, not loss: they do not hold
         * the gateway down once RiseCount= answers came. */
        health_init(&h, true);
        feed(&h, &c, ".");
        ASSERT_INT(feed(&h, &c, "xxxxxxxxxxxx"), 1);
        ASSERT_INT(feed(&h, &c, ".."), 0);
        ASSERT_INT(feed(&h, &c, "."), 1);
        ASSERT_INT(h.state, HEALTH_UP);
        /* ... nor take it down again at once, nor later while they are still in the window. */
        ASSERT_INT(feed(&h, &c, "x"), 0);
        ASSERT_INT(feed(&h, &c, "....x"), 0);
        ASSERT_INT(h.state, HEALTH_UP);
        ASSERT_INT(feed(&h, &c, "...x"), 1);    /* three sporadic ones within 10: down */
}

static void test_lossy_stays_down(void) {
        ProbeConfig c = probe();
        Health h;

        health_init(&h, true);
        feed(&h, &c, ".");
        /* 30 % loss, with runs of three answers: down, and it stays down while the loss lasts. */
        ASSERT_INT(feed(&h, &c, "...x.x...x...x.x...x"), 1);
        ASSERT_INT(h.state, HEALTH_DOWN);
        ASSERT_INT(feed(&h, &c, "...x.x...x...x.x...x...x.x...x...x.x...x"), 0);
        ASSERT_INT(h.state, HEALTH_DOWN);
        /* Clean again: back once the losses leave the window (two within 10 are allowed). */
        ASSERT_INT(feed(&h, &c, "..."), 0);
        ASSERT_INT(feed(&h, &c, "."), 1);
        ASSERT_INT(h.state, HEALTH_UP);
}

static void test_loss_window(void) {
        ProbeConfig c = probe();
        Health h;

        health_init(&h, true);
        feed(&h, &c, ".");
        /* Never two in a row, but 3 of 10: more than 20 %. */
        ASSERT_INT(feed(&h, &c, ".x...x.."), 0);
        ASSERT_INT(feed(&h, &c, "x"), 1);
        ASSERT_INT(h.state, HEALTH_DOWN);
        ASSERT(strstr(why, "3 of the last 10 probes lost"));
        /* MaxLossPercent=100 turns the check off. */
        c.loss_max_percent = 100;
        health_init(&h, true);
        ASSERT_INT(feed(&h, &c, ".x.x.x.x.x.x.x"), 1);    /* only the first verdict */
        ASSERT_INT(h.state, HEALTH_UP);
        ASSERT_INT(health_loss_percent(&h), 50);
        /* MaxLossPercent=0: a single loss. */
        c.loss_max_percent = 0;
        c.fall = 100;
        health_init(&h, true);
        ASSERT_INT(feed(&h, &c, "..x"), 2);
        ASSERT_INT(h.state, HEALTH_DOWN);
}

static void test_rtt(void) {
        ProbeConfig c = probe();
        Health h;

        c.rtt_max_usec = 20000;
        health_init(&h, true);
        feed(&h, &c, ".");
        ASSERT_INT(h.rtt_last, 1000);
        /* Slower than MaxRTTSec=: lost, though its time is recorded. */
        ASSERT_INT(feed(&h, &c, "ss"), 0);
        ASSERT_INT(h.rtt_last, 50000);
        ASSERT_INT(feed(&h, &c, "s"), 1);
        ASSERT_INT(h.state, HEALTH_DOWN);
        ASSERT(strstr(why, "slower than MaxRTTSec="));
        ASSERT_INT(h.sent, 4);
        ASSERT_INT(h.lost, 3);
        ASSERT(h.rtt_avg > 1000 && h.rtt_avg < 50000);
        ASSERT_INT(health_loss_percent(&h), 75);
}

static void test_evidence(void) {
        ProbeConfig c = probe();
        Health h;

        health_init(&h, true);
        feed(&h, &c, "..");
        ASSERT(health_evidence_down(&h, "device eth1 has no carrier", why));
        ASSERT_INT(h.state, HEALTH_DOWN);
        ASSERT_STREQ(why, "device eth1 has no carrier");
        ASSERT(!health_evidence_down(&h, "again", why));             /* logged once */
        /* Back only through RiseCount= answers, and evidence in between starts the count again. */
        ASSERT_INT(feed(&h, &c, ".."), 0);
        ASSERT(!health_evidence_down(&h, "neighbour failed", why));
        ASSERT_INT(feed(&h, &c, ".."), 0);
        ASSERT_INT(feed(&h, &c, "."), 1);
        ASSERT_INT(h.state, HEALTH_UP);

        /* Probe=none: no verdict ever. */
        health_init(&h, false);
        ASSERT_INT(h.state, HEALTH_UNPROBED);
        ASSERT_INT(feed(&h, &c, "xxxx"), 0);
        ASSERT(!health_evidence_down(&h, "x", why));
        ASSERT_INT(h.state, HEALTH_UNPROBED);
        ASSERT_STREQ(health_state_to_string(HEALTH_PROBING), "probing");
        ASSERT(!health_state_to_string(_HEALTH_STATE_MAX));
}

int main(void) {
        RUN(test_first_verdict);
        RUN(test_fall_and_rise);
        RUN(test_loss_window);
        RUN(test_outage_then_clean);
        RUN(test_lossy_stays_down);
        RUN(test_rtt);
        RUN(test_evidence);
        TESTS_DONE();
}
