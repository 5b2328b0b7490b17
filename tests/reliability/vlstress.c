/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vlstress: hostile clients of the varlink control socket, for tests/reliability/test-rel-control.sh.
 * libc only. Raises its own RLIMIT_NOFILE soft limit to the hard limit.
 *
 *   vlstress clients SOCKET [--idle N] [--slow N] [--oversized N] [--malformed N] [--mutate N]
 *                           [--hold-ms MS]
 *       Opens all connections at once (non-blocking connect), then:
 *         idle       connects and sends nothing;
 *         slow       sends the first half of a request and nothing more;
 *         oversized  sends 80 KiB of a request without its terminating NUL;
 *         malformed  sends one of several malformed requests (not JSON, not an object, no method, bad
 *                    parameters, oneway+more, invalid UTF-8, duplicate keys, an unknown method);
 *         mutate     calls io.vpnpolicy.Reload or io.vpnpolicy.RegisterTunnel (alternating).
 *       Waits up to --hold-ms (default 3000) for the answers, keeping every connection open, then prints
 *         connected N failed N
 *         closed_by_agent KIND N           (per kind: how many the agent closed, with or without answer)
 *         reply KIND ERROR N with_reason N (per kind and error name; "ok" for a reply without error)
 *         unanswered KIND N
 *   vlstress probe SOCKET --interval-ms MS --duration-ms MS [--request JSON]
 *       GetStatus (or the request JSON, e.g. a RegisterTunnel) on a fresh connection every interval (as
 *       vpnpolicyctl does); prints
 *         probe ok N fail N max_ms X p50_ms X
 *       (fail: no reply within 2 s, a refused connection, or an error reply).
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum { IDLE, SLOW, OVERSIZED, MALFORMED, MUTATE, N_KINDS };
static const char *kind_names[N_KINDS] = { "idle", "slow", "oversized", "malformed", "mutate" };

typedef struct Conn {
        int fd;
        int kind;
        char *out;
        size_t out_size, out_done;
        char in[4096];
        size_t in_size;
        bool answered, closed;
        char error[128];
        bool reason;
} Conn;

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000ULL + (uint64_t) ts.tv_nsec / 1000000ULL;
}

static void raise_nofile(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
}

static int connect_to(const char *path, bool nonblock) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);

        if (fd < 0)
                return -1;
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 && errno != EINPROGRESS && errno != EAGAIN) {
                close(fd);
                return -1;
        }
        return fd;
}

static char *dup_msg(const char *s, size_t n) {
        char *p = malloc(n);
        memcpy(p, s, n);
        return p;
}

static void make_request(Conn *c, unsigned i) {
        static const char *const malformed[] = {
                "this is not json",
                "[1,2,3]",
                "{\"parameters\":{}}",
                "{\"method\":5}",
                "{\"method\":\"\"}",
                "{\"method\":\"io.vpnpolicy.GetStatus\",\"parameters\":[]}",
                "{\"method\":\"io.vpnpolicy.GetStatus\",\"oneway\":true,\"more\":true}",
                "{\"method\":\"io.vpnpolicy.GetStatus\",\"oneway\":\"yes\"}",
                "{\"method\":\"io.vpnpolicy.GetStatus\",\"method\":\"io.vpnpolicy.Reload\"}",
                "{\"method\":\"io.vpnpolicy.\xff\xfe\"}",
                "{\"method\":\"io.vpnpolicy.NoSuchMethod\"}",
                "{\"method\":\"io.vpnpolicy.GetStatus\"",
        };
        char buf[1024];
        int n;

        switch (c->kind) {
        case IDLE:
                break;
        case SLOW:
                n = snprintf(buf, sizeof(buf), "{\"method\":\"io.vpnpolicy.GetStatus\",\"param");
                c->out = dup_msg(buf, (size_t) n);
                c->out_size = (size_t) n;
                break;
        case OVERSIZED: {
                size_t size = 80 * 1024;
                char *p = malloc(size);
                n = snprintf(p, size, "{\"method\":\"io.vpnpolicy.GetStatus\",\"parameters\":{\"x\":\"");
                memset(p + n, 'A', size - (size_t) n);
                c->out = p;
                c->out_size = size;
                break;
        }
        case MALFORMED: {
                const char *m = malformed[i % (sizeof(malformed) / sizeof(malformed[0]))];
                c->out = dup_msg(m, strlen(m) + 1); /* with the NUL: a complete (bad) request */
                c->out_size = strlen(m) + 1;
                break;
        }
        case MUTATE:
                if (i % 2)
                        n = snprintf(buf, sizeof(buf), "{\"method\":\"io.vpnpolicy.Reload\",\"parameters\":{}}");
                else
                        n = snprintf(buf, sizeof(buf),
                                     "{\"method\":\"io.vpnpolicy.RegisterTunnel\",\"parameters\":{\"dev\":\"tun0\","
                                     "\"ifconfig_local\":\"10.10.10.1\",\"ifconfig_netmask\":\"255.255.255.0\"}}");
                c->out = dup_msg(buf, (size_t) n + 1);
                c->out_size = (size_t) n + 1;
                break;
        }
}

/* Reads the error name and whether a "reason" came with it, from a reply (no JSON library: enough for
 * the replies the agent sends, {"error":"NAME","parameters":{...}}). */
static void parse_reply(Conn *c) {
        const char *e = strstr(c->in, "\"error\":\"");

        c->answered = true;
        if (e) {
                e += 9;
                size_t n = strcspn(e, "\"");
                snprintf(c->error, sizeof(c->error), "%.*s", (int) n, e);
        } else
                snprintf(c->error, sizeof(c->error), "ok");
        c->reason = strstr(c->in, "\"reason\":\"") != NULL;
}

static int cmd_clients(const char *path, int counts[N_KINDS], unsigned hold_ms) {
        int total = 0, connected = 0, failed = 0, k;
        Conn *conns;
        struct pollfd *pfds;
        uint64_t end;

        for (k = 0; k < N_KINDS; k++)
                total += counts[k];
        conns = calloc((size_t) total, sizeof(Conn));
        pfds = calloc((size_t) total, sizeof(struct pollfd));
        k = 0;
        for (int i = 0, left = counts[0]; i < total; i++) {
                while (left == 0)
                        left = counts[++k];
                left--;
                conns[i].kind = k;
                make_request(&conns[i], (unsigned) i);
                conns[i].fd = connect_to(path, true);
                if (conns[i].fd < 0) {
                        failed++;
                        conns[i].closed = true;
                } else
                        connected++;
        }

        end = now_ms() + hold_ms;
        for (;;) {
                int64_t left = (int64_t) (end - now_ms());
                int n;

                if (left <= 0)
                        break;
                for (int i = 0; i < total; i++) {
                        Conn *c = &conns[i];
                        pfds[i].fd = c->closed ? -1 : c->fd;
                        pfds[i].events = POLLIN | (c->out_done < c->out_size ? POLLOUT : 0);
                        pfds[i].revents = 0;
                }
                n = poll(pfds, (nfds_t) total, (int) (left < 100 ? left : 100));
                if (n < 0 && errno != EINTR)
                        break;
                for (int i = 0; i < total && n > 0; i++) {
                        Conn *c = &conns[i];

                        if (!pfds[i].revents)
                                continue;
                        if ((pfds[i].revents & POLLOUT) && c->out_done < c->out_size) {
                                ssize_t w = send(c->fd, c->out + c->out_done, c->out_size - c->out_done,
                                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                                if (w > 0)
                                        c->out_done += (size_t) w;
                        }
                        if (pfds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                                ssize_t r = recv(c->fd, c->in + c->in_size, sizeof(c->in) - 1 - c->in_size,
                                                 MSG_DONTWAIT);
                                if (r > 0) {
                                        c->in_size += (size_t) r;
                                        c->in[c->in_size] = '\0';
                                        if (memchr(c->in, '\0', c->in_size) || c->in_size == sizeof(c->in) - 1)
                                                parse_reply(c);
                                } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                                        if (c->in_size && !c->answered)
                                                parse_reply(c);
                                        c->closed = true;
                                }
                        }
                }
        }

        printf("connected %d failed %d\n", connected, failed);
        for (k = 0; k < N_KINDS; k++) {
                int closed = 0, unanswered = 0;

                if (!counts[k])
                        continue;
                for (int i = 0; i < total; i++)
                        if (conns[i].kind == k) {
                                closed += conns[i].closed && conns[i].fd >= 0;
                                unanswered += !conns[i].answered;
                        }
                printf("closed_by_agent %s %d\n", kind_names[k], closed);
                printf("unanswered %s %d\n", kind_names[k], unanswered);
                /* replies, grouped by error name */
                for (int i = 0; i < total; i++) {
                        int n = 0, with_reason = 0;
                        bool first = true;

                        if (conns[i].kind != k || !conns[i].answered)
                                continue;
                        for (int j = 0; j < i; j++)
                                if (conns[j].kind == k && conns[j].answered && !strcmp(conns[j].error, conns[i].error))
                                        first = false;
                        if (!first)
                                continue;
                        for (int j = i; j < total; j++)
                                if (conns[j].kind == k && conns[j].answered &&
                                    !strcmp(conns[j].error, conns[i].error)) {
                                        n++;
                                        with_reason += conns[j].reason;
                                }
                        printf("reply %s %s %d with_reason %d\n", kind_names[k], conns[i].error, n, with_reason);
                }
        }
        fflush(stdout);
        for (int i = 0; i < total; i++) {
                if (conns[i].fd >= 0)
                        close(conns[i].fd);
                free(conns[i].out);
        }
        free(conns);
        free(pfds);
        return 0;
}

/* One GetStatus on a fresh blocking connection, 2 s bound; returns 0 and the latency, or -1. */
static int probe_once(const char *path, const char *req, uint64_t *ms) {
        static char buf[1 << 20];
        size_t req_size = strlen(req) + 1; /* with the NUL that ends it */
        uint64_t t0 = now_ms();
        size_t got = 0;
        int fd = connect_to(path, true), ok = -1;
        struct pollfd p;

        if (fd < 0)
                return -1;
        p.fd = fd;
        p.events = POLLOUT;
        if (poll(&p, 1, 2000) != 1 || send(fd, req, req_size, MSG_NOSIGNAL) != (ssize_t) req_size)
                goto out;
        for (;;) {
                int64_t left = 2000 - (int64_t) (now_ms() - t0);
                ssize_t r;

                p.events = POLLIN;
                if (left <= 0 || poll(&p, 1, (int) left) != 1)
                        goto out;
                r = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
                if (r <= 0)
                        goto out;
                got += (size_t) r;
                if (memchr(buf, '\0', got))
                        break;
        }
        buf[got] = '\0';
        if (strstr(buf, "\"error\""))
                goto out;
        ok = 0;
        *ms = now_ms() - t0;
out:
        close(fd);
        return ok;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

static int cmd_probe(const char *path, const char *req, unsigned interval_ms, unsigned duration_ms) {
        uint64_t end = now_ms() + duration_ms, *lat = calloc(100000, sizeof(uint64_t)), max = 0;
        unsigned ok = 0, fail = 0;

        while (now_ms() < end && ok < 100000) {
                uint64_t t0 = now_ms(), ms;

                if (probe_once(path, req, &ms) == 0) {
                        lat[ok++] = ms;
                        if (ms > max)
                                max = ms;
                } else
                        fail++;
                uint64_t spent = now_ms() - t0;
                if (spent < interval_ms)
                        usleep((useconds_t) (interval_ms - spent) * 1000);
        }
        qsort(lat, ok, sizeof(uint64_t), cmp_u64);
        printf("probe ok %u fail %u max_ms %llu p50_ms %llu\n", ok, fail, (unsigned long long) max,
               (unsigned long long) (ok ? lat[ok / 2] : 0));
        free(lat);
        return 0;
}

int main(int argc, char **argv) {
        int counts[N_KINDS] = {};
        unsigned hold_ms = 3000, interval_ms = 100, duration_ms = 1000;
        const char *request = "{\"method\":\"io.vpnpolicy.GetStatus\",\"parameters\":{}}";

        raise_nofile();
        if (argc < 3) {
                fprintf(stderr, "usage: vlstress clients|probe SOCKET [OPTIONS] (see vlstress.c)\n");
                return 2;
        }
        for (int i = 3; i + 1 < argc; i += 2) {
                const char *o = argv[i];
                unsigned v = (unsigned) strtoul(argv[i + 1], NULL, 10);

                if (!strcmp(o, "--idle"))
                        counts[IDLE] = (int) v;
                else if (!strcmp(o, "--slow"))
                        counts[SLOW] = (int) v;
                else if (!strcmp(o, "--oversized"))
                        counts[OVERSIZED] = (int) v;
                else if (!strcmp(o, "--malformed"))
                        counts[MALFORMED] = (int) v;
                else if (!strcmp(o, "--mutate"))
                        counts[MUTATE] = (int) v;
                else if (!strcmp(o, "--hold-ms"))
                        hold_ms = v;
                else if (!strcmp(o, "--interval-ms"))
                        interval_ms = v;
                else if (!strcmp(o, "--duration-ms"))
                        duration_ms = v;
                else if (!strcmp(o, "--request"))
                        request = argv[i + 1];
                else {
                        fprintf(stderr, "vlstress: unknown option %s\n", o);
                        return 2;
                }
        }
        if (!strcmp(argv[1], "clients"))
                return cmd_clients(argv[2], counts, hold_ms);
        if (!strcmp(argv[1], "probe"))
                return cmd_probe(argv[2], request, interval_ms, duration_ms);
        fprintf(stderr, "vlstress: unknown command %s\n", argv[1]);
        return 2;
}
