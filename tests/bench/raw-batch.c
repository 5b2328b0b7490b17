/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * raw-batch: as fast as userspace can put routes into the kernel, for tests/bench/run.sh: libmnl,
 * requests packed into one sendmsg per ~64 KiB, every one with NLM_F_ACK, and every ack read and checked
 * before the next chunk goes out (what the daemon's batches do too).
 *
 *   raw-batch --op add|del --dev DEV --count N [--base A.B.C.D] [--plen 32] [--table T] [--proto P]
 *             [--devs N]
 *
 * Routes: BASE + i (for plen 32; BASE + i * 2^(32-plen) otherwise), i < N, "dev DEV" (with --devs K:
 * DEV0 .. DEV(K-1), route i via DEV(i % K)), table T (default main), proto P (default static).
 * Prints "elapsed_us routes errors" and exits 1 if any ack carried an error.
 */
#include <getopt.h>

#include "bench-nl.h"

#define CHUNK (64U * 1024U)

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "op", required_argument, NULL, 'o' },    { "dev", required_argument, NULL, 'd' },
                { "count", required_argument, NULL, 'n' }, { "base", required_argument, NULL, 'b' },
                { "plen", required_argument, NULL, 'l' },  { "table", required_argument, NULL, 't' },
                { "proto", required_argument, NULL, 'p' }, { "devs", required_argument, NULL, 'D' },
                {},
        };
        static uint8_t out[CHUNK + 1024], in[NLBUF_SIZE];
        const char *op = "add", *dev = NULL;
        unsigned count = 0, plen = 32, table = RT_TABLE_MAIN, proto = RTPROT_STATIC, ndevs = 0, baselen;
        uint32_t base = 0xac100000U, *ifindex, seq = 0, portid;
        unsigned long errors = 0, first_error = 0;
        struct mnl_socket *nl;
        uint64_t t0;
        int c;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'o': op = optarg; break;
                case 'd': dev = optarg; break;
                case 'n': count = (unsigned) atoi(optarg); break;
                case 'b':
                        if (!parse_prefix4(optarg, &base, &baselen))
                                goto usage;
                        break;
                case 'l': plen = (unsigned) atoi(optarg); break;
                case 't': table = (unsigned) atoi(optarg); break;
                case 'p': proto = (unsigned) atoi(optarg); break;
                case 'D': ndevs = (unsigned) atoi(optarg); break;
                default: goto usage;
                }
        if (!dev || !count || plen < 1 || plen > 32 || (strcmp(op, "add") && strcmp(op, "del")))
                goto usage;
        ifindex = calloc(ndevs ? ndevs : 1, sizeof(uint32_t));
        if (!ifindex)
                die_errno("calloc");
        for (unsigned k = 0; k < (ndevs ? ndevs : 1); k++) {
                char name[IFNAMSIZ + 8];
                snprintf(name, sizeof(name), ndevs ? "%s%u" : "%s", dev, k);
                ifindex[k] = if_nametoindex(name);
                if (!ifindex[k]) {
                        fprintf(stderr, "raw-batch: no device %s\n", name);
                        return 2;
                }
        }

        nl = nl_open(NULL, 64 << 20, false);
        portid = mnl_socket_get_portid(nl);
        t0 = now_ns();
        for (unsigned i = 0; i < count;) {
                size_t used = 0;
                uint32_t first = seq + 1;
                unsigned n = 0, acked = 0;

                while (i < count && used + 256 <= CHUNK) {
                        uint32_t d = htonl(base + (uint32_t) i * (1U << (32 - plen)));
                        struct nlmsghdr *nlh = route_msg(out + used, !strcmp(op, "add") ? RTM_NEWROUTE : RTM_DELROUTE,
                                                         NLM_F_ACK | (!strcmp(op, "add") ? NLM_F_CREATE | NLM_F_EXCL : 0),
                                                         AF_INET, &d, (uint8_t) plen, NULL,
                                                         ifindex[ndevs ? i % ndevs : 0], table, (uint8_t) proto, 0, 0);
                        nlh->nlmsg_seq = ++seq;
                        used += NLMSG_ALIGN(nlh->nlmsg_len);
                        n++;
                        i++;
                }
                if (mnl_socket_sendto(nl, out, used) < 0)
                        die_errno("sendmsg");
                while (acked < n) {
                        ssize_t r = mnl_socket_recvfrom(nl, in, sizeof(in));
                        int len;

                        if (r < 0) {
                                if (errno == EINTR)
                                        continue;
                                die_errno("recvmsg");
                        }
                        len = (int) r;
                        for (const struct nlmsghdr *h = (const void *) in; mnl_nlmsg_ok(h, len); h = mnl_nlmsg_next(h, &len)) {
                                const struct nlmsgerr *e;

                                if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_pid != portid || h->nlmsg_seq < first ||
                                    h->nlmsg_seq >= first + n)
                                        continue;
                                e = mnl_nlmsg_get_payload(h);
                                if (e->error && errors++ == 0)
                                        first_error = (unsigned long) -e->error;
                                acked++;
                        }
                }
        }
        printf("%.0f %u %lu\n", (double) (now_ns() - t0) / 1000.0, count, errors);
        if (errors)
                fprintf(stderr, "raw-batch: %lu errors, the first: %s\n", errors, strerror((int) first_error));
        return errors ? 1 : 0;

usage:
        fprintf(stderr, "usage: raw-batch --op add|del --dev DEV --count N [--base A.B.C.D] [--plen L] [--table T] "
                        "[--proto P] [--devs K]\n");
        return 2;
}
