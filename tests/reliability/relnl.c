/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * relnl: netlink tools for the reliability tests (tests/reliability/). libmnl only.
 *
 *   relnl monitor [--quiet]
 *       Subscribe to IPv4/IPv6 rule and route events (64 MiB receive buffer, SO_RCVBUFFORCE) and print one
 *       line per message: "TS_US NEW|DEL rule|route KEY | ATTRS" (TS_US: CLOCK_REALTIME microseconds,
 *       comparable with bash's $EPOCHREALTIME and notify-wait). The first line is "# subscribed". On
 *       SIGTERM/SIGINT it reads what is still queued (every event of a command that has returned is
 *       queued by then) and exits: 0, or 3 if events were lost (ENOBUFS; "# OVERRUN" lines), so a test
 *       never takes a lossy monitor for proof that nothing happened. The last line is "# events N".
 *       --quiet: print no event lines (a baseline reader for CPU figures).
 *   relnl monitor --notify IN OUT
 *       The same, and the agent's sd_notify socket: datagrams to IN are relayed to OUT (notify-wait's).
 *       At READY=1 the events queued before it are read first, then "TS # READY" is printed: every event
 *       after that line was queued by the kernel after the agent sent READY=1, however late this reader
 *       ran (its TS stamps are read times, not the kernel's).
 *   relnl dump
 *       The rules and routes the kernel holds now, as "0 DUMP rule|route KEY | ATTRS" lines.
 *   relnl send PORTID SPEC...
 *       Forge: send each SPEC as one unicast message to netlink port PORTID, shaped like a kernel
 *       notification (nlmsg_pid 0, seq 0). Any process may do this; only the sender address tells it
 *       apart from the kernel. Prints "sent N refused N" (refused: EPERM, the kernel lets only
 *       CAP_NET_ADMIN send to a port id of NETLINK_ROUTE). PORTID 0 is the control: each SPEC is sent
 *       to the kernel as a real request (acked; new ones with NLM_F_CREATE|NLM_F_EXCL).
 *   relnl fight INTERVAL_MS SECONDS SPEC
 *       Send SPEC (a deletion) to the kernel every INTERVAL_MS for SECONDS, each with an ack; prints
 *       "attempts N deleted N absent N other N".
 *   relnl dumpintr ROUNDS
 *       ROUNDS times: dump links, addresses and routes (both families) and rules; print how many dumps
 *       the kernel flagged NLM_F_DUMP_INTR (interrupted by a concurrent change), per kind.
 *   relnl portids PID
 *       The port ids of the NETLINK_ROUTE sockets PID holds, one a line (from /proc/PID/net/netlink).
 *
 * SPEC (forging and fighting): KIND ACTION KEY=VALUE...
 *   rule4|rule6 new|del  pref= src=PFX table= proto=
 *   route4|route6 new|del  dst=PFX table= proto= gw=ADDR oif=IFINDEX metric= type=unicast|unreachable
 *   link del  ifindex=
 *   addr4|addr6 del  ifindex= addr=PFX
 */

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BUFSZ (256 * 1024)

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
        (void) sig;
        stop = 1;
}

static uint64_t now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}

static int die(const char *what) {
        fprintf(stderr, "relnl: %s: %s\n", what, strerror(errno));
        return 2;
}

/* ---- printing ---- */

static void addr_str(int family, const void *a, unsigned len, char *buf, size_t size) {
        if (!a) {
                snprintf(buf, size, family == AF_INET6 ? "::/0" : "0.0.0.0/0");
                return;
        }
        char tmp[INET6_ADDRSTRLEN];
        inet_ntop(family, a, tmp, sizeof(tmp));
        snprintf(buf, size, "%s/%u", tmp, len);
}

#define TB_MAX 64 /* larger than RTA_MAX and FRA_MAX */

static int attr_cb(const struct nlattr *attr, void *data) {
        const struct nlattr **tb = data;
        int type = mnl_attr_get_type(attr);

        if (type < TB_MAX)
                tb[type] = attr;
        return MNL_CB_OK;
}

static void print_rule(const struct nlmsghdr *nlh, const char *prefix) {
        const struct fib_rule_hdr *frh = mnl_nlmsg_get_payload(nlh);
        const struct nlattr *tb[TB_MAX] = {};
        char src[64], dst[64];
        unsigned table;
        int fam = frh->family == AF_INET6 ? 6 : 4;

        mnl_attr_parse(nlh, sizeof(*frh), attr_cb, tb);
        addr_str(frh->family, tb[FRA_SRC] ? mnl_attr_get_payload(tb[FRA_SRC]) : NULL, frh->src_len, src, sizeof(src));
        addr_str(frh->family, tb[FRA_DST] ? mnl_attr_get_payload(tb[FRA_DST]) : NULL, frh->dst_len, dst, sizeof(dst));
        table = tb[FRA_TABLE] ? mnl_attr_get_u32(tb[FRA_TABLE]) : frh->table;
        printf("%s rule fam=%d pref=%u src=%s dst=%s iif=%s oif=%s fwmark=%u tos=%u action=%u table=%u | proto=%u "
               "flags=0x%x\n",
               prefix, fam, tb[FRA_PRIORITY] ? mnl_attr_get_u32(tb[FRA_PRIORITY]) : 0, src, dst,
               tb[FRA_IIFNAME] ? mnl_attr_get_str(tb[FRA_IIFNAME]) : "-",
               tb[FRA_OIFNAME] ? mnl_attr_get_str(tb[FRA_OIFNAME]) : "-",
               tb[FRA_FWMARK] ? mnl_attr_get_u32(tb[FRA_FWMARK]) : 0, frh->tos, frh->action, table,
               tb[FRA_PROTOCOL] ? mnl_attr_get_u8(tb[FRA_PROTOCOL]) : 0, frh->flags);
}

static void print_route(const struct nlmsghdr *nlh, const char *prefix) {
        const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
        const struct nlattr *tb[TB_MAX] = {};
        char dst[64], gw[INET6_ADDRSTRLEN] = "-";
        unsigned table;
        int fam = rtm->rtm_family == AF_INET6 ? 6 : 4;

        if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6)
                return;
        mnl_attr_parse(nlh, sizeof(*rtm), attr_cb, tb);
        addr_str(rtm->rtm_family, tb[RTA_DST] ? mnl_attr_get_payload(tb[RTA_DST]) : NULL, rtm->rtm_dst_len, dst,
                 sizeof(dst));
        if (tb[RTA_GATEWAY])
                inet_ntop(rtm->rtm_family, mnl_attr_get_payload(tb[RTA_GATEWAY]), gw, sizeof(gw));
        table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
        printf("%s route fam=%d table=%u dst=%s tos=%u metric=%u type=%u | proto=%u scope=%u gw=%s oif=%u "
               "flags=0x%x\n",
               prefix, fam, table, dst, rtm->rtm_tos, tb[RTA_PRIORITY] ? mnl_attr_get_u32(tb[RTA_PRIORITY]) : 0,
               rtm->rtm_type, rtm->rtm_protocol, rtm->rtm_scope, gw,
               tb[RTA_OIF] ? mnl_attr_get_u32(tb[RTA_OIF]) : 0, rtm->rtm_flags);
}

static void print_msg(const struct nlmsghdr *nlh, const char *ts) {
        char prefix[64];
        bool del = nlh->nlmsg_type == RTM_DELRULE || nlh->nlmsg_type == RTM_DELROUTE;

        snprintf(prefix, sizeof(prefix), "%s %s", ts, ts[0] == '0' && !ts[1] ? "DUMP" : del ? "DEL" : "NEW");
        switch (nlh->nlmsg_type) {
        case RTM_NEWRULE:
        case RTM_DELRULE:
                print_rule(nlh, prefix);
                break;
        case RTM_NEWROUTE:
        case RTM_DELROUTE:
                print_route(nlh, prefix);
                break;
        }
}

static struct mnl_socket *open_rtnl(unsigned groups) {
        struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);

        if (!nl)
                return NULL;
        if (mnl_socket_bind(nl, groups, MNL_SOCKET_AUTOPID) < 0) {
                mnl_socket_close(nl);
                return NULL;
        }
        return nl;
}

/* ---- monitor ---- */

typedef struct Monitor {
        int fd;
        bool quiet;
        unsigned long events;
        int overruns;
} Monitor;

/* One recv of events: 1 when something was read (or an overrun noted), 0 when nothing was queued
 * (MSG_DONTWAIT) or a signal came, -1 on an error. */
static int monitor_read(Monitor *m, int flags) {
        static char buf[BUFSZ];
        ssize_t n = recv(m->fd, buf, sizeof(buf), flags);
        char ts[32];

        if (n < 0) {
                if (errno == ENOBUFS) {
                        m->overruns++;
                        printf("%llu # OVERRUN\n", (unsigned long long) now_us());
                        return 1;
                }
                return errno == EINTR || errno == EAGAIN ? 0 : -1;
        }
        snprintf(ts, sizeof(ts), "%llu", (unsigned long long) now_us());
        int len = (int) n;
        for (const struct nlmsghdr *nlh = (const struct nlmsghdr *) buf; mnl_nlmsg_ok(nlh, len);
             nlh = mnl_nlmsg_next(nlh, &len)) {
                m->events++;
                if (!m->quiet)
                        print_msg(nlh, ts);
        }
        return 1;
}

static int monitor_drain(Monitor *m) {
        int r;

        while ((r = monitor_read(m, MSG_DONTWAIT)) > 0)
                ;
        return r;
}

static bool has_line(const char *text, const char *line) {
        size_t n = strlen(line);

        for (const char *p = text; (p = strstr(p, line)); p += n)
                if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
                        return true;
        return false;
}

/* An sd_notify datagram for the agent: relayed to the test's notify-wait at out. At READY=1 every event
 * the kernel queued for us before it is read first (the agent sends READY=1 after its acks, and the kernel
 * queues a change's notification before its ack), then "TS # READY" is printed: an event printed after
 * that line was queued after READY=1 was sent, whatever the scheduling of this reader. */
static int relay_notify(Monitor *m, int in, const struct sockaddr_un *out) {
        char d[8192];
        ssize_t n = recv(in, d, sizeof(d) - 1, MSG_DONTWAIT);

        if (n <= 0)
                return n < 0 && errno != EAGAIN && errno != EINTR ? -1 : 0;
        d[n] = '\0';
        if (has_line(d, "READY=1")) {
                if (monitor_drain(m) < 0)
                        return -1;
                printf("%llu # READY\n", (unsigned long long) now_us());
                fflush(stdout);
        }
        (void) sendto(in, d, (size_t) n, 0, (const struct sockaddr *) out, sizeof(*out));
        return 0;
}

static int notify_socket(const char *path, struct sockaddr_un *out, const char *out_path) {
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        if (fd < 0 || strlen(path) >= sizeof(a.sun_path) || strlen(out_path) >= sizeof(out->sun_path))
                return -1;
        strcpy(a.sun_path, path);
        *out = (struct sockaddr_un) { .sun_family = AF_UNIX };
        strcpy(out->sun_path, out_path);
        (void) unlink(path);
        return bind(fd, (struct sockaddr *) &a, sizeof(a)) < 0 ? -1 : fd;
}

static int monitor_subscribe(struct mnl_socket *nl) {
        static unsigned groups[] = { RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE, RTNLGRP_IPV4_RULE,
                                           RTNLGRP_IPV6_RULE };
        int rcvbuf = 64 * 1024 * 1024, fd = mnl_socket_get_fd(nl);

        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
                (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
        for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
                if (mnl_socket_setsockopt(nl, NETLINK_ADD_MEMBERSHIP, (void *) &groups[i], sizeof(int)) < 0)
                        return -1;
        return 0;
}

/* notify_in, notify_out: NULL, or the relay of relay_notify() */
static int cmd_monitor(bool quiet, const char *notify_in, const char *notify_out) {
        struct mnl_socket *nl = open_rtnl(0);
        struct sigaction sa = { .sa_handler = on_signal };
        struct sockaddr_un out;
        Monitor m = { .quiet = quiet };
        int in = -1;

        if (!nl)
                return die("socket");
        m.fd = mnl_socket_get_fd(nl);
        if (monitor_subscribe(nl) < 0)
                return die("NETLINK_ADD_MEMBERSHIP");
        if (notify_in && (in = notify_socket(notify_in, &out, notify_out)) < 0)
                return die(notify_in);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        setvbuf(stdout, NULL, _IOFBF, 1 << 20);
        printf("# subscribed\n");
        fflush(stdout);

        while (!stop) {
                struct pollfd p[2] = { { .fd = m.fd, .events = POLLIN }, { .fd = in, .events = POLLIN } };

                if (poll(p, in >= 0 ? 2 : 1, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return die("poll");
                }
                if ((p[0].revents && monitor_read(&m, MSG_DONTWAIT) < 0) ||
                    (in >= 0 && p[1].revents && relay_notify(&m, in, &out) < 0))
                        return die("recv");
                if (!quiet)
                        fflush(stdout);
        }
        /* after a stop request: what is still queued (every event of a command that has returned) */
        if (monitor_drain(&m) < 0)
                return die("recv");
        printf("# events %lu\n", m.events);
        fflush(stdout);
        if (in >= 0)
                (void) unlink(notify_in);
        mnl_socket_close(nl);
        return m.overruns ? 3 : 0;
}

/* ---- dumps ---- */

typedef struct DumpResult {
        bool intr;
        bool print;
} DumpResult;

static int dump_cb(const struct nlmsghdr *nlh, void *data) {
        DumpResult *r = data;

        if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
                r->intr = true;
        if (r->print)
                print_msg(nlh, "0");
        return MNL_CB_OK;
}

/* One dump of TYPE for FAMILY; returns 1 if interrupted, 0 if not, -1 on error. */
static int dump(struct mnl_socket *nl, uint16_t type, int family, bool print) {
        static char buf[BUFSZ];
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        static unsigned seq;
        unsigned portid = mnl_socket_get_portid(nl);
        DumpResult r = { .print = print };

        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        nlh->nlmsg_seq = ++seq;
        switch (type) {
        case RTM_GETLINK: {
                struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
                ifi->ifi_family = (uint8_t) family;
                break;
        }
        case RTM_GETADDR: {
                struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
                ifa->ifa_family = (uint8_t) family;
                break;
        }
        case RTM_GETRULE: {
                struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
                frh->family = (uint8_t) family;
                break;
        }
        default: {
                struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
                rtm->rtm_family = (uint8_t) family;
        }
        }
        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
                return -1;
        for (;;) {
                /* 64 KiB reads, as the agent does (RTNL_RECV_BUFFER): the kernel sizes a dump's datagrams
                 * by the reader's buffer, and only a dump of several datagrams can be interrupted. */
                ssize_t n = mnl_socket_recvfrom(nl, buf, 64 * 1024);
                int len;
                bool done = false;

                if (n < 0)
                        return -1;
                /* By hand, not mnl_cb_run(): that stops at the first NLM_F_DUMP_INTR and leaves the rest of
                 * the dump in the socket. */
                len = (int) n;
                for (const struct nlmsghdr *m = (const struct nlmsghdr *) buf; mnl_nlmsg_ok(m, len);
                     m = mnl_nlmsg_next(m, &len)) {
                        if (m->nlmsg_seq != seq || m->nlmsg_pid != portid)
                                continue;
                        if (m->nlmsg_flags & NLM_F_DUMP_INTR)
                                r.intr = true;
                        if (m->nlmsg_type == NLMSG_ERROR)
                                return -1;
                        if (m->nlmsg_type == NLMSG_DONE) {
                                done = true;
                                break;
                        }
                        dump_cb(m, &r);
                }
                if (done)
                        break;
        }
        return r.intr ? 1 : 0;
}

static int cmd_dump(void) {
        struct mnl_socket *nl = open_rtnl(0);

        if (!nl)
                return die("socket");
        if (dump(nl, RTM_GETRULE, AF_INET, true) < 0 || dump(nl, RTM_GETRULE, AF_INET6, true) < 0 ||
            dump(nl, RTM_GETROUTE, AF_INET, true) < 0 || dump(nl, RTM_GETROUTE, AF_INET6, true) < 0)
                return die("dump");
        mnl_socket_close(nl);
        return 0;
}

static int cmd_dumpintr(int rounds) {
        static const struct {
                const char *name;
                uint16_t type;
                int family;
        } kinds[] = {
                { "link", RTM_GETLINK, AF_UNSPEC },     { "addr4", RTM_GETADDR, AF_INET },
                { "addr6", RTM_GETADDR, AF_INET6 },     { "route4", RTM_GETROUTE, AF_INET },
                { "route6", RTM_GETROUTE, AF_INET6 },   { "rule4", RTM_GETRULE, AF_INET },
        };
        enum { N = sizeof(kinds) / sizeof(kinds[0]) };
        int intr[N] = {}, errors = 0;
        struct mnl_socket *nl = open_rtnl(0);
        int rcvbuf = 32 * 1024 * 1024;

        if (!nl)
                return die("socket");
        (void) setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
        for (int i = 0; i < rounds; i++)
                for (int k = 0; k < N; k++) {
                        int r = dump(nl, kinds[k].type, kinds[k].family, false);
                        if (r < 0)
                                errors++;
                        else
                                intr[k] += r;
                }
        printf("rounds %d errors %d", rounds, errors);
        for (int k = 0; k < N; k++)
                printf(" %s %d", kinds[k].name, intr[k]);
        printf("\n");
        mnl_socket_close(nl);
        return 0;
}

/* ---- building messages from a SPEC ---- */

static int parse_prefix(const char *s, int family, unsigned char *addr, unsigned *len) {
        char tmp[128];
        const char *slash = strchr(s, '/');
        unsigned max = family == AF_INET6 ? 128 : 32;

        snprintf(tmp, sizeof(tmp), "%.*s", slash ? (int) (slash - s) : (int) strlen(s), s);
        if (inet_pton(family, tmp, addr) != 1)
                return -1;
        *len = slash ? (unsigned) atoi(slash + 1) : max;
        return *len <= max ? 0 : -1;
}

static const char *spec_get(int argc, char **argv, const char *key) {
        size_t n = strlen(key);

        for (int i = 0; i < argc; i++)
                if (strncmp(argv[i], key, n) == 0 && argv[i][n] == '=')
                        return argv[i] + n + 1;
        return NULL;
}

static unsigned spec_u32(int argc, char **argv, const char *key, unsigned def) {
        const char *v = spec_get(argc, argv, key);
        return v ? (unsigned) strtoul(v, NULL, 0) : def;
}

/* Builds the message of SPEC (argv[0] kind, argv[1] action, then KEY=VALUE) into buf. */
static struct nlmsghdr *spec_build(char *buf, int argc, char **argv) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        const char *kind, *action, *v;
        unsigned char addr[16];
        unsigned len;
        bool del;

        if (argc < 2)
                return NULL;
        kind = argv[0];
        action = argv[1];
        del = strcmp(action, "del") == 0;
        if (!del && strcmp(action, "new") != 0)
                return NULL;
        argc -= 2;
        argv += 2;

        if (strncmp(kind, "rule", 4) == 0) {
                int family = kind[4] == '6' ? AF_INET6 : AF_INET;
                struct fib_rule_hdr *frh;
                unsigned table = spec_u32(argc, argv, "table", 254);

                nlh->nlmsg_type = del ? RTM_DELRULE : RTM_NEWRULE;
                frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
                frh->family = (uint8_t) family;
                frh->action = FR_ACT_TO_TBL;
                frh->table = table < 256 ? (uint8_t) table : RT_TABLE_UNSPEC;
                mnl_attr_put_u32(nlh, FRA_TABLE, table);
                mnl_attr_put_u32(nlh, FRA_PRIORITY, spec_u32(argc, argv, "pref", 32765));
                if ((v = spec_get(argc, argv, "src"))) {
                        if (parse_prefix(v, family, addr, &len) < 0)
                                return NULL;
                        frh->src_len = (uint8_t) len;
                        mnl_attr_put(nlh, FRA_SRC, family == AF_INET6 ? 16 : 4, addr);
                }
                mnl_attr_put_u8(nlh, FRA_PROTOCOL, (uint8_t) spec_u32(argc, argv, "proto", 211));
                return nlh;
        }
        if (strncmp(kind, "route", 5) == 0) {
                int family = kind[5] == '6' ? AF_INET6 : AF_INET;
                struct rtmsg *rtm;
                unsigned table = spec_u32(argc, argv, "table", 254);
                const char *type = spec_get(argc, argv, "type");

                nlh->nlmsg_type = del ? RTM_DELROUTE : RTM_NEWROUTE;
                rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
                rtm->rtm_family = (uint8_t) family;
                rtm->rtm_table = table < 256 ? (uint8_t) table : RT_TABLE_UNSPEC;
                rtm->rtm_protocol = (uint8_t) spec_u32(argc, argv, "proto", 211);
                rtm->rtm_type = type && strcmp(type, "unreachable") == 0 ? RTN_UNREACHABLE : RTN_UNICAST;
                rtm->rtm_scope = spec_get(argc, argv, "gw") || rtm->rtm_type != RTN_UNICAST ? RT_SCOPE_UNIVERSE
                                                                                              : RT_SCOPE_LINK;
                mnl_attr_put_u32(nlh, RTA_TABLE, table);
                if ((v = spec_get(argc, argv, "dst"))) {
                        if (parse_prefix(v, family, addr, &len) < 0)
                                return NULL;
                        rtm->rtm_dst_len = (uint8_t) len;
                        if (len > 0)
                                mnl_attr_put(nlh, RTA_DST, family == AF_INET6 ? 16 : 4, addr);
                }
                if ((v = spec_get(argc, argv, "gw"))) {
                        if (inet_pton(family, v, addr) != 1)
                                return NULL;
                        mnl_attr_put(nlh, RTA_GATEWAY, family == AF_INET6 ? 16 : 4, addr);
                }
                if ((v = spec_get(argc, argv, "oif")))
                        mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t) strtoul(v, NULL, 0));
                if ((v = spec_get(argc, argv, "metric")))
                        mnl_attr_put_u32(nlh, RTA_PRIORITY, (uint32_t) strtoul(v, NULL, 0));
                return nlh;
        }
        if (strcmp(kind, "link") == 0) {
                struct ifinfomsg *ifi;

                nlh->nlmsg_type = del ? RTM_DELLINK : RTM_NEWLINK;
                ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
                ifi->ifi_family = AF_UNSPEC;
                ifi->ifi_index = (int) spec_u32(argc, argv, "ifindex", 0);
                if ((v = spec_get(argc, argv, "name")))
                        mnl_attr_put_strz(nlh, IFLA_IFNAME, v);
                return nlh;
        }
        if (strncmp(kind, "addr", 4) == 0) {
                int family = kind[4] == '6' ? AF_INET6 : AF_INET;
                struct ifaddrmsg *ifa;

                nlh->nlmsg_type = del ? RTM_DELADDR : RTM_NEWADDR;
                ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
                ifa->ifa_family = (uint8_t) family;
                ifa->ifa_index = spec_u32(argc, argv, "ifindex", 0);
                if ((v = spec_get(argc, argv, "addr"))) {
                        if (parse_prefix(v, family, addr, &len) < 0)
                                return NULL;
                        ifa->ifa_prefixlen = (uint8_t) len;
                        mnl_attr_put(nlh, IFA_LOCAL, family == AF_INET6 ? 16 : 4, addr);
                        mnl_attr_put(nlh, IFA_ADDRESS, family == AF_INET6 ? 16 : 4, addr);
                }
                return nlh;
        }
        return NULL;
}

/* Splits argv at "," tokens into SPECs. */
static int cmd_send(unsigned portid, int argc, char **argv) {
        struct mnl_socket *nl = open_rtnl(0);
        struct sockaddr_nl to = { .nl_family = AF_NETLINK, .nl_pid = portid };
        static char buf[BUFSZ];
        int sent = 0, refused = 0;

        if (!nl)
                return die("socket");
        for (int i = 0; i < argc;) {
                int j = i;
                struct nlmsghdr *nlh;

                while (j < argc && strcmp(argv[j], ",") != 0)
                        j++;
                nlh = spec_build(buf, j - i, argv + i);
                if (!nlh) {
                        fprintf(stderr, "relnl: bad SPEC starting at '%s'\n", argv[i]);
                        return 2;
                }
                if (portid == 0) {
                        /* the control: the same message as a real request to the kernel, acked */
                        static char rbuf[BUFSZ];
                        bool create = nlh->nlmsg_type == RTM_NEWROUTE || nlh->nlmsg_type == RTM_NEWRULE ||
                                      nlh->nlmsg_type == RTM_NEWADDR;
                        ssize_t n;

                        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (create ? NLM_F_CREATE | NLM_F_EXCL : 0);
                        nlh->nlmsg_seq = (unsigned) i + 1;
                        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
                                return die("sendto");
                        n = mnl_socket_recvfrom(nl, rbuf, sizeof(rbuf));
                        if (n < 0 || mnl_cb_run(rbuf, (size_t) n, nlh->nlmsg_seq, mnl_socket_get_portid(nl), NULL,
                                                NULL) < 0)
                                return die("the kernel refused the request");
                        sent++;
                        i = j + 1;
                        continue;
                }
                /* What a kernel notification looks like: no request flag, seq 0, pid 0. */
                nlh->nlmsg_flags = 0;
                nlh->nlmsg_seq = 0;
                nlh->nlmsg_pid = 0;
                if (sendto(mnl_socket_get_fd(nl), nlh, nlh->nlmsg_len, 0, (struct sockaddr *) &to, sizeof(to)) < 0) {
                        /* NETLINK_ROUTE lets only CAP_NET_ADMIN send to a port id (netlink_sendmsg()) */
                        if (errno != EPERM)
                                return die("sendto");
                        refused++;
                } else
                        sent++;
                i = j + 1;
        }
        printf("sent %d refused %d\n", sent, refused);
        mnl_socket_close(nl);
        return 0;
}

static int cmd_fight(unsigned interval_ms, unsigned seconds, int argc, char **argv) {
        struct mnl_socket *nl = open_rtnl(0);
        static char buf[BUFSZ], rbuf[BUFSZ];
        unsigned long attempts = 0, deleted = 0, absent = 0, other = 0;
        uint64_t end = now_us() + (uint64_t) seconds * 1000000ULL, next = now_us();
        unsigned seq = 0, portid;

        if (!nl)
                return die("socket");
        portid = mnl_socket_get_portid(nl);
        while (now_us() < end) {
                struct nlmsghdr *nlh = spec_build(buf, argc, argv);
                ssize_t n;

                if (!nlh) {
                        fprintf(stderr, "relnl: bad SPEC\n");
                        return 2;
                }
                nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
                nlh->nlmsg_seq = ++seq;
                if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
                        return die("sendto");
                n = mnl_socket_recvfrom(nl, rbuf, sizeof(rbuf));
                if (n < 0)
                        return die("recv");
                attempts++;
                if (mnl_cb_run(rbuf, (size_t) n, seq, portid, NULL, NULL) < 0) {
                        if (errno == ENOENT || errno == ESRCH)
                                absent++;
                        else
                                other++;
                } else
                        deleted++;
                next += (uint64_t) interval_ms * 1000ULL;
                uint64_t now = now_us();
                if (next > now)
                        usleep((useconds_t) (next - now));
        }
        printf("attempts %lu deleted %lu absent %lu other %lu\n", attempts, deleted, absent, other);
        mnl_socket_close(nl);
        return 0;
}

/* ---- port ids of a process ---- */

static int cmd_portids(const char *pid) {
        char path[256], line[512], link[128];
        unsigned long inodes[256];
        int n_inodes = 0;
        DIR *d;
        struct dirent *de;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%s/fd", pid);
        d = opendir(path);
        if (!d)
                return die(path);
        while ((de = readdir(d)) && n_inodes < 256) {
                char fdpath[512];
                ssize_t l;

                snprintf(fdpath, sizeof(fdpath), "%s/%s", path, de->d_name);
                l = readlink(fdpath, link, sizeof(link) - 1);
                if (l <= 0)
                        continue;
                link[l] = '\0';
                if (sscanf(link, "socket:[%lu]", &inodes[n_inodes]) == 1)
                        n_inodes++;
        }
        closedir(d);
        snprintf(path, sizeof(path), "/proc/%s/net/netlink", pid);
        f = fopen(path, "re");
        if (!f)
                return die(path);
        /* sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode */
        while (fgets(line, sizeof(line), f)) {
                char sk[32];
                unsigned eth, portid;
                char groups[32];
                unsigned long rmem, wmem, dump, locks, drops, inode;

                if (sscanf(line, "%31s %u %u %31s %lu %lu %lu %lu %lu %lu", sk, &eth, &portid, groups, &rmem, &wmem,
                           &dump, &locks, &drops, &inode) != 10)
                        continue;
                if (eth != NETLINK_ROUTE)
                        continue;
                for (int i = 0; i < n_inodes; i++)
                        if (inodes[i] == inode)
                                printf("%u %s\n", portid, strcmp(groups, "00000000") ? "events" : "requests");
        }
        fclose(f);
        return 0;
}

int main(int argc, char **argv) {
        if (argc < 2) {
                fprintf(stderr, "usage: relnl monitor [--quiet | --notify IN OUT] | dump | send PORTID SPEC... | fight MS SECONDS SPEC | "
                                "dumpintr ROUNDS | portids PID\n");
                return 2;
        }
        if (strcmp(argv[1], "monitor") == 0 && argc == 5 && strcmp(argv[2], "--notify") == 0)
                return cmd_monitor(false, argv[3], argv[4]);
        if (strcmp(argv[1], "monitor") == 0 && argc <= 3)
                return cmd_monitor(argc == 3 && strcmp(argv[2], "--quiet") == 0, NULL, NULL);
        if (strcmp(argv[1], "dump") == 0)
                return cmd_dump();
        if (strcmp(argv[1], "send") == 0 && argc >= 4)
                return cmd_send((unsigned) strtoul(argv[2], NULL, 0), argc - 3, argv + 3);
        if (strcmp(argv[1], "fight") == 0 && argc >= 6)
                return cmd_fight((unsigned) atoi(argv[2]), (unsigned) atoi(argv[3]), argc - 4, argv + 4);
        if (strcmp(argv[1], "dumpintr") == 0 && argc == 3)
                return cmd_dumpintr(atoi(argv[2]));
        if (strcmp(argv[1], "portids") == 0 && argc == 3)
                return cmd_portids(argv[2]);
        fprintf(stderr, "relnl: bad arguments (see the comment at the top of relnl.c)\n");
        return 2;
}
