/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-latency: event-to-route figures for tests/bench/run.sh, run inside the benchmark's namespace.
 *
 *   bench-latency addr  --dev DEV [--count N] [--warmup N] [--table T] [--gap-us US]
 *                       [--exec PROG [ARG...] --]          address events
 *   bench-latency route --dev DEV [--count N] [--warmup N] [--table T] [--gap-us US]
 *                                                          main-table route events
 *   bench-latency count --table T --match A.B.C.D/LEN --expect N [--timeout-ms MS] -- CMD [ARG...]
 *   bench-latency dumpcount --table T --match A.B.C.D/LEN [--dev DEV]
 *   bench-latency dump [--count N]                         time a full dump of the namespace's state
 *
 * addr: for each event, adds 10.200.X.Y/30 to DEV by netlink (CLOCK_MONOTONIC t0 just before the
 * sendmsg), then waits on a socket subscribed to the IPv4 route group for the kernel's RTM_NEWROUTE of
 * 10.200.X.(Y-1)/30 in table T (t1 when recvmsg returns it), prints t1 - t0 in microseconds (one line per
 * event, warm-up events left out), deletes the address and waits for the copy's RTM_DELROUTE, so every
 * event starts from a quiet system. With --exec, after the address's ack it runs PROG (as OpenVPN runs
 * `up`: fork+execve, the environment OpenVPN gives it, positional arguments DEV 1500 0 LOCAL MASK init),
 * waits for the copy as above, then for PROG to exit, and removes the table-T routes via DEV itself
 * (nothing else would).
 * route: the same with main-table routes 172.18.X.Y/32 dev DEV proto static, the copy being the same
 * destination in table T.
 * count: runs CMD, counts distinct table-T routes inside the match prefix (RTM_NEWROUTE minus
 * RTM_DELROUTE) until N are there; prints "elapsed_us generator_us overruns": from CMD's start to the
 * N-th copy, and to CMD's exit. After an overrun of its own socket it counts by dumps instead.
 * dumpcount: prints how many table-T routes lie in the match prefix (optionally only via DEV).
 * dump: links, v4/v6 addresses, v4/v6 rules, v4/v6 routes, as the daemon dumps them at start; prints
 * microseconds per full dump, one line per repetition.
 * Exit status: 0, 1 when an event timed out or a request failed, 2 on usage or system errors.
 */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>

#include "bench-nl.h"

#define EVENT_TIMEOUT_NS (3ULL * 1000000000ULL)

static struct mnl_socket *ev, *rq;
static uint32_t seq;
static uint8_t evbuf[NLBUF_SIZE];
static unsigned long overruns;

typedef struct Args {
        const char *mode, *dev;
        unsigned count, warmup, table, gap_us, timeout_ms, expect;
        uint32_t match_addr;
        unsigned match_len;
        char **exec_argv;
        char **cmd_argv;
} Args;

/* Waits for an RTM_{NEW,DEL}ROUTE of dst/len (v4) in table; returns its receive time or 0 on timeout. */
static uint64_t wait_route(uint16_t type, unsigned table, uint32_t dst, unsigned len, uint64_t deadline) {
        for (;;) {
                uint64_t now = now_ns();
                struct pollfd p = { .fd = mnl_socket_get_fd(ev), .events = POLLIN };
                ssize_t n;
                int rem;

                if (now >= deadline)
                        return 0;
                if (poll(&p, 1, (int) ((deadline - now) / 1000000ULL) + 1) <= 0)
                        continue;
                n = recv(mnl_socket_get_fd(ev), evbuf, sizeof(evbuf), MSG_DONTWAIT);
                now = now_ns();
                if (n < 0) {
                        if (errno == ENOBUFS)
                                overruns++;
                        continue;
                }
                rem = (int) n;
                for (const struct nlmsghdr *h = (const void *) evbuf; mnl_nlmsg_ok(h, rem); h = mnl_nlmsg_next(h, &rem)) {
                        Route r;
                        uint32_t d;

                        if (h->nlmsg_type != type || !route_parse(h, &r) || r.family != AF_INET || r.table != table ||
                            r.dst_len != len || !r.has_dst)
                                continue;
                        memcpy(&d, r.dst, 4);
                        if (ntohl(d) == dst)
                                return now;
                }
        }
}

static int addr_request(uint16_t type, int ifindex, uint32_t local, unsigned len) {
        uint8_t buf[512];
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
        uint32_t a = htonl(local);

        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = type == RTM_NEWADDR ? NLM_F_CREATE | NLM_F_EXCL : 0;
        ifa->ifa_family = AF_INET;
        ifa->ifa_prefixlen = (uint8_t) len;
        ifa->ifa_index = (uint32_t) ifindex;
        mnl_attr_put(nlh, IFA_LOCAL, 4, &a);
        mnl_attr_put(nlh, IFA_ADDRESS, 4, &a);
        return nl_request(rq, nlh, &seq);
}

static int route_request(uint16_t type, int ifindex, uint32_t dst, unsigned len, unsigned table) {
        uint8_t buf[512];
        uint32_t d = htonl(dst);
        struct nlmsghdr *nlh = route_msg(buf, type, type == RTM_NEWROUTE ? NLM_F_CREATE | NLM_F_EXCL : 0, AF_INET, &d,
                                         (uint8_t) len, NULL, (uint32_t) ifindex, table, RTPROT_STATIC, 0, 0);
        return nl_request(rq, nlh, &seq);
}

/* Removes every route of table (both families) via ifindex: what the seed's script added. */
typedef struct Collect {
        unsigned table;
        uint32_t oif;
        uint8_t *msgs;
        size_t used, size;
} Collect;

static void collect_cb(const struct nlmsghdr *nlh, void *userdata) {
        Collect *c = userdata;
        Route r;

        if (!route_parse(nlh, &r) || r.table != c->table || (c->oif && r.oif != c->oif))
                return;
        if (c->used + nlh->nlmsg_len > c->size) {
                c->size = (c->size + nlh->nlmsg_len) * 2;
                c->msgs = realloc(c->msgs, c->size);
                if (!c->msgs)
                        die_errno("realloc");
        }
        memcpy(c->msgs + c->used, nlh, nlh->nlmsg_len);
        c->used += NLMSG_ALIGN(nlh->nlmsg_len);
}

static int table_flush_oif(unsigned table, uint32_t oif) {
        static const int families[] = { AF_INET, AF_INET6 };
        int err = 0;

        for (size_t f = 0; f < 2; f++) {
                uint8_t buf[256];
                struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
                struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
                Collect c = { .table = table, .oif = oif };

                nlh->nlmsg_type = RTM_GETROUTE;
                rtm->rtm_family = (uint8_t) families[f];
                if (nl_dump(rq, nlh, &seq, collect_cb, &c) < 0)
                        return -1;
                for (size_t off = 0; off < c.used;) {
                        struct nlmsghdr *m = (struct nlmsghdr *) (c.msgs + off);
                        off += NLMSG_ALIGN(m->nlmsg_len);
                        m->nlmsg_type = RTM_DELROUTE;
                        m->nlmsg_flags = 0;
                        if (nl_request(rq, m, &seq) < 0)
                                err = -1;
                }
                free(c.msgs);
        }
        return err;
}

static pid_t spawn(char **argv, char **envp) {
        pid_t pid = fork();

        if (pid < 0)
                die_errno("fork");
        if (pid == 0) {
                int fd = open("/dev/null", O_RDWR);
                if (fd >= 0) {
                        dup2(fd, 0);
                        dup2(fd, 1);
                }
                execve(argv[0], argv, envp);
                _exit(127);
        }
        return pid;
}

static void sleep_us(unsigned us) {
        struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (long) (us % 1000000) * 1000 };

        if (us)
                nanosleep(&ts, NULL);
}

static char *xstrdup(const char *s) {
        char *d = strdup(s);

        if (!d)
                die_errno("strdup");
        return d;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...) {
        va_list ap;
        char *s;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                die_errno("vasprintf");
        va_end(ap);
        return s;
}

static int run_events(const Args *a, bool addr) {
        int ifindex = (int) if_nametoindex(a->dev);
        unsigned failures = 0;

        if (ifindex <= 0) {
                fprintf(stderr, "bench-latency: no device %s\n", a->dev);
                return 2;
        }
        for (unsigned i = 0; i < a->warmup + a->count; i++) {
                /* addr: 10.200.0.0/16 in /30s; route: 172.18.0.0/16 in /32s */
                uint32_t dst = addr ? 0x0ac80000U + (i % 16384U) * 4U : 0xac120000U + (i % 65536U);
                unsigned len = addr ? 30 : 32;
                uint64_t t0, t1;
                pid_t child = 0;
                int r;

                t0 = now_ns();
                r = addr ? addr_request(RTM_NEWADDR, ifindex, dst + 1, len)
                         : route_request(RTM_NEWROUTE, ifindex, dst, len, RT_TABLE_MAIN);
                if (r < 0) {
                        fprintf(stderr, "bench-latency: event %u: add: %s\n", i, strerror(-r));
                        return 1;
                }
                if (a->exec_argv) {
                        char local[INET_ADDRSTRLEN];
                        uint32_t l = htonl(dst + 1);
                        char *argv[16], *envp[32];
                        size_t n = 0, e = 0;

                        inet_ntop(AF_INET, &l, local, sizeof(local));
                        for (char **p = a->exec_argv; *p && n < 8; p++)
                                argv[n++] = *p;
                        argv[n++] = xstrdup(a->dev);
                        argv[n++] = xstrdup("1500");
                        argv[n++] = xstrdup("0");
                        argv[n++] = local;
                        argv[n++] = xstrdup("255.255.255.252");
                        argv[n++] = xstrdup("init");
                        argv[n] = NULL;
                        /* What OpenVPN 2.6 gives `up` (no PATH) */
                        envp[e++] = xasprintf("dev=%s", a->dev);
                        envp[e++] = xstrdup("dev_type=tun");
                        envp[e++] = xasprintf("ifconfig_local=%s", local);
                        envp[e++] = xstrdup("ifconfig_netmask=255.255.255.252");
                        envp[e++] = xstrdup("ifconfig_ipv6_local=fd00:4242:4242:4242::1");
                        envp[e++] = xstrdup("ifconfig_ipv6_netbits=64");
                        envp[e++] = xstrdup("tun_mtu=1500");
                        envp[e++] = xstrdup("link_mtu=0");
                        envp[e++] = xstrdup("script_type=up");
                        envp[e++] = xstrdup("script_context=init");
                        envp[e++] = xstrdup("config=/etc/openvpn/server/server.conf");
                        envp[e++] = xasprintf("daemon_pid=%d", (int) getpid());
                        envp[e++] = xstrdup("daemon=0");
                        envp[e++] = xstrdup("verb=3");
                        envp[e++] = xstrdup("proto_1=udp");
                        envp[e++] = xstrdup("local_port_1=1194");
                        envp[e++] = xstrdup("remote_port_1=1194");
                        envp[e++] = getenv("VPNPOLICY_SEED_TABLE") ? xasprintf("VPNPOLICY_SEED_TABLE=%s", getenv("VPNPOLICY_SEED_TABLE")) : xstrdup("dev_idx=0");
                        envp[e] = NULL;
                        child = spawn(argv, envp);
                }
                t1 = wait_route(RTM_NEWROUTE, a->table, dst, len, now_ns() + EVENT_TIMEOUT_NS);
                if (child) {
                        int status;
                        while (waitpid(child, &status, 0) < 0 && errno == EINTR)
                                ;
                }
                if (!t1) {
                        fprintf(stderr, "bench-latency: event %u: no copy in table %u within 3 s\n", i, a->table);
                        failures++;
                } else if (i >= a->warmup)
                        printf("%.3f\n", (double) (t1 - t0) / 1000.0);
                r = addr ? addr_request(RTM_DELADDR, ifindex, dst + 1, len)
                         : route_request(RTM_DELROUTE, ifindex, dst, len, RT_TABLE_MAIN);
                if (r < 0) {
                        fprintf(stderr, "bench-latency: event %u: delete: %s\n", i, strerror(-r));
                        return 1;
                }
                if (a->exec_argv) {
                        if (table_flush_oif(a->table, (uint32_t) ifindex) < 0)
                                fprintf(stderr, "bench-latency: event %u: could not flush table %u\n", i, a->table);
                } else if (t1 && !wait_route(RTM_DELROUTE, a->table, dst, len, now_ns() + EVENT_TIMEOUT_NS)) {
                        fprintf(stderr, "bench-latency: event %u: copy not removed from table %u within 3 s\n", i,
                                a->table);
                        failures++;
                }
                if (failures > 10)
                        return 1;
                sleep_us(a->gap_us);
        }
        fflush(stdout);
        if (overruns)
                fprintf(stderr, "bench-latency: %lu overruns of the event socket\n", overruns);
        return failures ? 1 : 0;
}

/* --- count, dumpcount ---------------------------------------------------------------------------- */

typedef struct Counter {
        const Args *a;
        uint8_t *bits;
        unsigned n;
        uint32_t oif;
} Counter;

static bool counter_index(const Counter *c, const Route *r, uint32_t *ret) {
        uint32_t d, span = c->a->match_len ? 1U << (32 - c->a->match_len) : 0;

        if (r->family != AF_INET || r->table != c->a->table || !r->has_dst || (c->oif && r->oif != c->oif))
                return false;
        memcpy(&d, r->dst, 4);
        d = ntohl(d) - c->a->match_addr;
        if (c->a->match_len && d >= span)
                return false;
        *ret = d;
        return true;
}

static void counter_apply(Counter *c, const struct nlmsghdr *h) {
        Route r;
        uint32_t i;

        if (!route_parse(h, &r) || !counter_index(c, &r, &i))
                return;
        if (h->nlmsg_type == RTM_NEWROUTE && !(c->bits[i / 8] & (1U << (i % 8)))) {
                c->bits[i / 8] |= (uint8_t) (1U << (i % 8));
                c->n++;
        } else if (h->nlmsg_type == RTM_DELROUTE && (c->bits[i / 8] & (1U << (i % 8)))) {
                c->bits[i / 8] &= (uint8_t) ~(1U << (i % 8));
                c->n--;
        }
}

static void dump_count_cb(const struct nlmsghdr *h, void *userdata) {
        counter_apply(userdata, h);
}

static Counter *counter_new(const Args *a) {
        Counter *c = calloc(1, sizeof(Counter));
        size_t span = a->match_len ? (size_t) 1 << (32 - a->match_len) : (size_t) 1 << 32;

        if (!c || !(c->bits = calloc(span / 8 + 1, 1)))
                die_errno("calloc");
        c->a = a;
        return c;
}

static unsigned dump_count(const Args *a, uint32_t oif) {
        Counter *c = counter_new(a);
        uint8_t buf[256];
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
        unsigned n;

        c->oif = oif;
        nlh->nlmsg_type = RTM_GETROUTE;
        rtm->rtm_family = AF_INET;
        if (nl_dump(rq, nlh, &seq, dump_count_cb, c) < 0)
                die_errno("route dump");
        n = c->n;
        free(c->bits);
        free(c);
        return n;
}

static int run_count(const Args *a) {
        Counter *c = counter_new(a);
        uint64_t t0, t_gen = 0, t_done = 0, deadline;
        bool by_dump = false;
        pid_t child;
        int status;

        t0 = now_ns();
        child = spawn(a->cmd_argv, __environ);
        deadline = t0 + (uint64_t) a->timeout_ms * 1000000ULL;
        while (!t_done) {
                struct pollfd p = { .fd = mnl_socket_get_fd(ev), .events = POLLIN };
                uint64_t now;

                if (!t_gen && waitpid(child, &status, WNOHANG) == child)
                        t_gen = now_ns();
                (void) poll(&p, 1, by_dump ? 20 : 5);
                for (;;) {
                        ssize_t n = recv(mnl_socket_get_fd(ev), evbuf, sizeof(evbuf), MSG_DONTWAIT);
                        int rem;

                        if (n < 0) {
                                if (errno == ENOBUFS) {
                                        overruns++;
                                        by_dump = true;
                                        continue;
                                }
                                break;
                        }
                        rem = (int) n;
                        for (const struct nlmsghdr *h = (const void *) evbuf; mnl_nlmsg_ok(h, rem); h = mnl_nlmsg_next(h, &rem))
                                counter_apply(c, h);
                }
                now = now_ns();
                if (c->n >= a->expect && !by_dump)
                        t_done = now;
                else if (by_dump && dump_count(a, 0) >= a->expect)
                        t_done = now_ns();
                if (!t_done && now >= deadline)
                        break;
        }
        if (!t_gen) {
                while (waitpid(child, &status, 0) < 0 && errno == EINTR)
                        ;
                t_gen = now_ns();
        }
        if (!t_done) {
                printf("timeout %.0f %lu %u\n", (double) (t_gen - t0) / 1000.0, overruns, dump_count(a, 0));
                return 1;
        }
        printf("%.0f %.0f %lu\n", (double) (t_done - t0) / 1000.0, (double) (t_gen - t0) / 1000.0, overruns);
        return 0;
}

/* --- dump ---------------------------------------------------------------------------------------- */

static unsigned long dumped;
static void count_cb(const struct nlmsghdr *h, void *userdata) {
        dumped++;
}

static int run_dump(const Args *a) {
        static const struct {
                uint16_t type;
                int family;
        } dumps[] = {
                { RTM_GETLINK, AF_UNSPEC }, { RTM_GETADDR, AF_INET },  { RTM_GETADDR, AF_INET6 },
                { RTM_GETRULE, AF_INET },   { RTM_GETRULE, AF_INET6 }, { RTM_GETROUTE, AF_INET },
                { RTM_GETROUTE, AF_INET6 },
        };

        for (unsigned rep = 0; rep < a->count; rep++) {
                uint64_t t0 = now_ns();

                dumped = 0;
                for (size_t i = 0; i < sizeof(dumps) / sizeof(dumps[0]); i++) {
                        uint8_t buf[256];
                        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
                        struct rtgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(struct ifinfomsg));

                        nlh->nlmsg_type = dumps[i].type;
                        g->rtgen_family = (uint8_t) dumps[i].family;
                        if (nl_dump(rq, nlh, &seq, count_cb, NULL) < 0)
                                die_errno("dump");
                }
                printf("%.0f %lu\n", (double) (now_ns() - t0) / 1000.0, dumped);
        }
        return 0;
}

static void usage(void) {
        fprintf(stderr, "usage: bench-latency addr|route|count|dumpcount|dump [OPTIONS] (see the source)\n");
        exit(2);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "dev", required_argument, NULL, 'd' },     { "count", required_argument, NULL, 'n' },
                { "warmup", required_argument, NULL, 'w' },  { "table", required_argument, NULL, 't' },
                { "gap-us", required_argument, NULL, 'g' },  { "exec", no_argument, NULL, 'x' },
                { "match", required_argument, NULL, 'm' },   { "expect", required_argument, NULL, 'e' },
                { "timeout-ms", required_argument, NULL, 'T' }, {},
        };
        static const unsigned route_groups[] = { RTNLGRP_IPV4_ROUTE, 0 };
        Args a = { .count = 1000, .warmup = 10, .table = 200, .gap_us = 1000, .timeout_ms = 60000 };
        bool want_exec = false;
        int c;

        if (argc < 2)
                usage();
        a.mode = argv[1];
        optind = 2;
        while ((c = getopt_long(argc, argv, "+", options, NULL)) >= 0)
                switch (c) {
                case 'd': a.dev = optarg; break;
                case 'n': a.count = (unsigned) atoi(optarg); break;
                case 'w': a.warmup = (unsigned) atoi(optarg); break;
                case 't': a.table = (unsigned) atoi(optarg); break;
                case 'g': a.gap_us = (unsigned) atoi(optarg); break;
                case 'x': want_exec = true; break;
                case 'm':
                        if (!parse_prefix4(optarg, &a.match_addr, &a.match_len))
                                usage();
                        break;
                case 'e': a.expect = (unsigned) atoi(optarg); break;
                case 'T': a.timeout_ms = (unsigned) atoi(optarg); break;
                default: usage();
                }
        if (want_exec) {
                /* --exec PROG [ARG...] -- */
                a.exec_argv = argv + optind;
                while (optind < argc && strcmp(argv[optind], "--") != 0)
                        optind++;
                if (optind >= argc || a.exec_argv == argv + optind)
                        usage();
                argv[optind++] = NULL;
        }
        if (optind < argc && strcmp(argv[optind], "--") == 0)
                optind++;
        a.cmd_argv = argv + optind;

        setvbuf(stdout, NULL, _IOLBF, 0);
        signal(SIGPIPE, SIG_IGN);
        rq = nl_open(NULL, 4 << 20, false);
        if (!strcmp(a.mode, "addr") || !strcmp(a.mode, "route")) {
                if (!a.dev)
                        usage();
                ev = nl_open(route_groups, 8 << 20, false);
                return run_events(&a, !strcmp(a.mode, "addr"));
        }
        if (!strcmp(a.mode, "count")) {
                if (!a.expect || optind >= argc)
                        usage();
                ev = nl_open(route_groups, 256 << 20, false);
                return run_count(&a);
        }
        if (!strcmp(a.mode, "dumpcount")) {
                uint32_t oif = a.dev ? if_nametoindex(a.dev) : 0;
                printf("%u\n", dump_count(&a, oif));
                return 0;
        }
        if (!strcmp(a.mode, "dump")) {
                if (a.count == 1000)
                        a.count = 5;
                return run_dump(&a);
        }
        usage();
}
