/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "addr.h"
#include "health.h"

/* The gateway-health table: one entry per gateway and family it has an address of, and the probes that
 * feed it. The sole writer of that table. Evidence comes from three sides: the probes (ICMP echo to the
 * gateway, and to its ProbeTarget= through it; lib/icmp-socket.c), the links table (its Device= gone, down
 * or without carrier), and the kernel's neighbour entry of the gateway (FAILED). A verdict that changes is
 * logged once and flags the table changed; the pass (policy.c) decides the routes from it.
 *
 * Probes go out in rounds: every entry's requests of a round leave together on the entry's interval, at
 * instants aligned to one epoch, so that entries with the same interval share a wakeup; their replies are
 * not read as they come but at the round's deadline, from the kernel's receive stamps, in one batch. With
 * the default ProbeTimeoutSec= equal to ProbeIntervalSec=, the deadline of a round is the start of the
 * next: one wakeup per interval for every gateway together. */

typedef struct ProbeDest {
        InAddrUnion addr;
        uint32_t cookie;        /* in the request's payload: which entry and destination */
        uint16_t seq;           /* of the request out */
        bool outstanding;
        bool answered;          /* in time */
        uint64_t sent_realtime; /* microseconds, to compare with the kernel's receive stamp */
        uint64_t rtt;
        int send_error;         /* of the last round's send, -errno; 0 if it went out */
} ProbeDest;

typedef struct GatewayHealth {
        size_t policy, gateway; /* indices into the configuration in force */
        char *policy_name, *gateway_name;       /* to carry the verdict over a reload */
        ProbeConfig probe;      /* as configured */
        int family;
        int ifindex;            /* of its Device=, 0: none or missing */
        uint32_t mark;          /* SO_MARK of its probes (desired_probe_mark()) */
        ProbeDest dest[2];      /* the gateway, then its ProbeTarget= when it has one: the target decides */
        size_t n_dest;
        bool probed;            /* Probe=icmp, and the socket of its family could be opened */
        Health health;
        bool link_ok;           /* its Device= exists, is up and has carrier (true without Device=) */
        bool device_exists;
        char link_why[64];      /* why not, for the reason of the verdict */
        uint16_t neigh_state;   /* NUD_* of the gateway's neighbour entry last reported; 0: none seen */
        bool neigh_failed;      /* reported FAILED since the pass looked (and not deleted since) */
        bool gateway_answers;   /* with a target: the gateway itself answered the last round */
        uint64_t next_send;     /* CLOCK_MONOTONIC */
        uint64_t deadline;      /* of the round out; 0: none */
        uint64_t since;         /* CLOCK_REALTIME: in its state since */
        uint64_t changed_at;    /* CLOCK_REALTIME of the last change of state; 0: none yet */
        uint64_t usable_since;  /* CLOCK_MONOTONIC: usable (up, or link ok when unprobed) since */
        char reason[HEALTH_REASON_MAX];
        uint64_t changes;
} GatewayHealth;

typedef struct Gateways {
        GatewayHealth *items;   /* by policy, gateway, family (IPv4 first) */
        size_t n;
        int fd[2];              /* the probe sockets, IPv4 and IPv6; -EBADF while none is needed */
        int socket_error[2];    /* why one could not be opened: its gateways are judged by their links */
        uint16_t id;            /* the ICMP identifier of this run */
        uint64_t secret;        /* of the probes' nonces */
        uint16_t generation;    /* of the table's layout, in the cookies: replies to old requests are dropped */
        uint64_t epoch;         /* CLOCK_MONOTONIC: the rounds' phase */
        sd_event_source *timer;
        bool changed;           /* a verdict or a link changed since the pass looked */
        /* counters, since the start */
        uint64_t changes;       /* of verdicts */
        uint64_t wakeups;       /* of the probe timer */
        uint64_t sent;          /* requests */
        uint64_t send_errors;
        uint64_t replies;       /* accepted in time */
        uint64_t late;          /* ours, but after the timeout */
        uint64_t rejected;      /* datagrams that were no answer to a request out */
} Gateways;

typedef struct Manager Manager;
typedef struct NeighInfo NeighInfo;

int gateways_init(Manager *m);
void gateways_done(Gateways *g);

/* In the pass: the entries follow a new configuration (keeping the verdicts of gateways whose probe did
 * not change) and the links. */
void gateways_update(Manager *m);
/* Sets the probe timer for the next round or deadline (after the table changed). */
void gateways_arm(Manager *m);
/* A neighbour entry changed (observed.c). */
void gateways_neighbour(Manager *m, const NeighInfo *n, bool deleted);
/* Whether a verdict or link changed since the last call, clearing the flag (policy.c). */
bool gateways_take_changed(Gateways *g);

const GatewayHealth *gateways_get(const Gateways *g, size_t policy, size_t gateway, int family);
