/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <linux/netlink.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"

/* The only code that touches rtnetlink sockets. Two sockets: one subscribed to the multicast groups we
 * follow (links, v4/v6 addresses, routes and rules, neighbours), read from the event loop; one for synchronous dumps
 * and batched requests. Only messages from the kernel (netlink port id 0) are believed. */

typedef struct Rtnl Rtnl;

/* mnl_nlmsg_ok() compares (int) nlmsg_len, so a length above INT_MAX passes as negative: compare
 * unsigned. Use this for every walk over received messages. */
static inline bool rtnl_message_ok(const struct nlmsghdr *nlh, int len) {
        return len >= (int) sizeof(struct nlmsghdr) && nlh->nlmsg_len >= sizeof(struct nlmsghdr) &&
               nlh->nlmsg_len <= (unsigned) len;
}

typedef int (*rtnl_message_handler_t)(const struct nlmsghdr *nlh, void *userdata);
/* The event socket overflowed (ENOBUFS): events were lost, a full resync is due. */
typedef void (*rtnl_overrun_handler_t)(void *userdata);

/* The event socket's buffer. The kernel charges about 830 bytes per route event to it; a burst of 100,000
 * routes (plus the echoes of our copies) is absorbed while a pass runs. Memory is only used while events
 * wait, and SO_RCVBUFFORCE (CAP_NET_ADMIN) lets us pass net.core.rmem_max. */
#define RTNL_RCVBUF_DEFAULT (64U * 1024U * 1024U)
/* For the request socket: replies to one dump datagram or one chunk of acks at a time. */
#define RTNL_RCVBUF_REQUESTS (8U * 1024U * 1024U)

/* e NULL: no event socket, only synchronous requests (the CLI); on_event and on_overrun may be NULL then. */
int rtnl_new(sd_event *e, uint32_t rcvbuf, rtnl_message_handler_t on_event, rtnl_overrun_handler_t on_overrun,
             void *userdata, Rtnl **ret);
Rtnl *rtnl_free(Rtnl *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(Rtnl *, rtnl_free);

uint64_t rtnl_forged_messages(const Rtnl *r);  /* messages dropped because not from the kernel */
uint32_t rtnl_event_portid(const Rtnl *r);
/* The request socket's: what the kernel announces of our own requests carries it in nlmsg_pid. */
uint32_t rtnl_requests_portid(const Rtnl *r);

/* Reads and dispatches every event queued on the event socket now (after a dump: what happened while it
 * ran, before deciding what the dump did not show). */
int rtnl_drain_events(Rtnl *r);

/* A dump (RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE or RTM_GETRULE) of one family. oif > 0 asks the kernel
 * to filter routes by output device (strict dump checking). The handler sees each object; the whole
 * dump is retried when the kernel flags it NLM_F_DUMP_INTR (changed while dumping): the handler must be
 * idempotent. */
int rtnl_dump(Rtnl *r, uint16_t type, int family, int oif, rtnl_message_handler_t handler, void *userdata);

/* The same with the kernel filtering routes by table as well (table 0: any). */
typedef struct RtnlDumpFilter {
        uint16_t type;
        int family;
        int oif;
        uint32_t table;
} RtnlDumpFilter;

int rtnl_dump_filtered(Rtnl *r, const RtnlDumpFilter *f, rtnl_message_handler_t handler, void *userdata);

/* One request that is not a dump, answered by one message (RTM_GETROUTE by RTM_NEWROUTE, RTM_GETNEIGH by
 * RTM_NEWNEIGH): a malloc()ed copy of the answer in *ret, or the kernel's -errno. Sets nlh's flags and
 * sequence number. */
int rtnl_call(Rtnl *r, struct nlmsghdr *nlh, struct nlmsghdr **ret);

/* The kernel's route lookup for one packet (RTM_GETROUTE, not a dump: inet_rtm_getroute() in
 * net/ipv4/route.c, inet6_rtm_getroute() in net/ipv6/route.c). Addresses are family-sized. With iif the
 * kernel does an input lookup as for a packet received on that device (forwarding and reverse-path checks
 * included); without, a local output lookup (IPv4 then refuses a source that is not a local address).
 * fib_match: the route entry that matched (dst prefix, metric, protocol) instead of the result. */
typedef struct RtnlRouteQuery {
        int family;
        const uint8_t *src;     /* NULL: none */
        const uint8_t *dst;
        int iif;                /* > 0: input lookup */
        bool fib_match;
} RtnlRouteQuery;

int rtnl_route_get(Rtnl *r, const RtnlRouteQuery *q, struct nlmsghdr **ret);

/* Many requests, each with NLM_F_ACK and its own sequence number, sent with as few sendmsg() calls as
 * the socket buffer allows, every ack checked. build(i) writes request i into nlh: its type, flags
 * (NLM_F_CREATE, NLM_F_REPLACE, ...) and payload; RTNL_MESSAGE_MAX bounds a message. on_ack(i) follows
 * once per request in order: error is 0 or -errno from the kernel's ack, ext_ack the kernel's extended
 * ack text or NULL. Between datagrams the event socket is drained (its handler runs), so the handlers
 * must cope with being called while requests are out. */
#define RTNL_MESSAGE_MAX 1024U
typedef int (*rtnl_build_t)(size_t index, struct nlmsghdr *nlh, void *userdata);
typedef void (*rtnl_ack_handler_t)(size_t index, int error, const char *ext_ack, void *userdata);
int rtnl_send(Rtnl *r, size_t n, rtnl_build_t build, rtnl_ack_handler_t on_ack, void *userdata);
