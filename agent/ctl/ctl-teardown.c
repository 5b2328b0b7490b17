/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <jansson.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl-kernel.h"
#include "ctl-notation.h"
#include "ctl.h"
#include "desired.h"
#include "nft.h"
#include "parse-util.h"
#include "rt-files.h"
#include "rtnl.h"
#include "varlink.h"

/* teardown: removes every rule and route of ours and nothing else: our protocol, in one of our tables (a
 * route) or pointing at one (a rule), both families; then our nftables table (inet vpnpolicy: counters,
 * leak guard, the tunnel set) and our rt_tables.d and rt_protos.d files. Our tables are the ones the agent
 * remembers in its runtime directory (every configuration's, agent/daemon/tables.c) and the one our
 * rt_tables.d file names, and the probe tables (config.h, PROBE_TABLE_BASE); objects with our protocol
 * elsewhere are someone else's, as for the agent.
 * Each object is deleted by sending the kernel's own
 * description of it back as the delete request, so the kernel matches exactly that object
 * (fib_nl_delrule() in net/core/fib_rules.c; inet_rtm_delroute() and inet6_rtm_delroute() compare the
 * protocol, device and gateway given). */

typedef struct Doomed {
        struct nlmsghdr *nlh;           /* the kernel's RTM_NEWRULE/RTM_NEWROUTE, copied */
        char text[NOTATION_STRLEN + 64];
        int error;
} Doomed;

#define TEARDOWN_TABLES_MAX 64

typedef struct Teardown {
        CtlKernel *k;
        uint32_t tables[TEARDOWN_TABLES_MAX];
        size_t n_tables;
        Doomed *doomed;
        size_t n_doomed;
        Nft *nft;
        bool nft_table;                 /* our table is there */
        int nft_error;
        const char *iproute2_dir;
        bool yes;
} Teardown;

static int teardown_parse_argv(int argc, char *argv[], Teardown *t) {
        static const struct option options[] = {
                { "yes", no_argument, NULL, 'y' },
                { "iproute2-dir", required_argument, NULL, 'i' },
                {}
        };
        int opt;

        optind = 0;
        while ((opt = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (opt) {
                case 'y':
                        t->yes = true;
                        break;
                case 'i':
                        t->iproute2_dir = optarg;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "teardown: unexpected argument '%s' (only --yes, --iproute2-dir DIR).\n", argv[optind]);
                return -EINVAL;
        }
        return 0;
}

/* The agent would put everything back at once: it must be stopped first. */
static bool agent_running(const CtlContext *c) {
        _cleanup_(freep) char *path = NULL, *error = NULL;
        json_t *reply = NULL;
        pid_t pid;
        int r;

        if (asprintf(&path, "%s/io.vpnpolicy", c->runtime_dir) < 0)
                return true;
        r = varlink_call(path, "io.vpnpolicy.GetStatus", NULL, CTL_TIMEOUT_USEC, &reply, &error);
        json_decref(reply);
        if (r >= 0) {
                fprintf(stderr, "teardown: vpnpolicyd answers at %s and would restore everything at once; stop it "
                        "first: systemctl stop vpnpolicyd\n", path);
                return true;
        }
        pid = ctl_find_process("vpnpolicyd");
        if (pid > 0) {
                fprintf(stderr, "teardown: vpnpolicyd runs as pid %d in this network namespace and would restore "
                        "everything at once; stop it first: systemctl stop vpnpolicyd\n", (int) pid);
                return true;
        }
        return false;
}

/* The probe tables' range is reserved for us (a policy's [Table] Id= may not lie in it), so their rules and
 * routes are ours whatever the runtime directory remembers. */
static bool table_is_ours(const Teardown *t, uint32_t table) {
        if (desired_table_is_probe(table))
                return true;
        for (size_t i = 0; i < t->n_tables; i++)
                if (t->tables[i] == table)
                        return true;
        return false;
}

static void table_add(Teardown *t, uint32_t table) {
        if (!table_is_ours(t, table) && t->n_tables < TEARDOWN_TABLES_MAX)
                t->tables[t->n_tables++] = table;
}

/* The runtime directory's "tables": one id per line, anything else ignored (as tables_load() does). */
static int tables_read(Teardown *t, const char *runtime_dir) {
        _cleanup_(freep) char *path = NULL, *line = NULL;
        size_t size = 0;
        uint32_t id;
        FILE *f;

        if (asprintf(&path, "%s/tables", runtime_dir) < 0)
                return -ENOMEM;
        f = fopen(path, "re");
        if (!f)
                return errno == ENOENT ? 0 : negative_errno();
        while (getline(&line, &size, f) > 0) {
                line[strcspn(line, "\n")] = 0;
                if (parse_u32(line, &id) >= 0 && id > 0 && (id < 253 || id > 255))
                        table_add(t, id);
        }
        fclose(f);
        return 0;
}

static void table_add_named(uint32_t id, void *userdata) {
        table_add(userdata, id);
}

static void teardown_tables(Teardown *t, const CtlContext *c) {
        if (tables_read(t, c->runtime_dir) < 0)
                fprintf(stderr, "teardown: cannot read %s/tables, using only the tables of rt_tables.d/%s\n",
                        c->runtime_dir, RT_FILES_OURS);
        (void) rt_files_our_tables(t->iproute2_dir ?: IPROUTE2_DIR_DEFAULT, table_add_named, t);
        if (t->n_tables == 0)
                fprintf(stderr, "teardown: no table of vpnpolicy's is known (no %s/tables, no "
                        "rt_tables.d/%s): rules and routes are left alone\n", c->runtime_dir, RT_FILES_OURS);
}

/* Ours: our protocol, and in one of our tables (a route) or pointing at one (a rule). */
static bool message_is_ours(const Teardown *t, const struct nlmsghdr *nlh) {
        FibRule rule;
        FibRoute route;

        if (nlh->nlmsg_type == RTM_NEWROUTE)
                return fib_route_from_netlink(nlh, &route) >= 0 && route.protocol == VPNPOLICY_PROTO &&
                       table_is_ours(t, route.table);
        return fib_rule_from_netlink(nlh, &rule) >= 0 && rule.protocol == VPNPOLICY_PROTO &&
               rule.action == FR_ACT_TO_TBL && table_is_ours(t, rule.table);
}

static void doomed_describe(Teardown *t, const struct nlmsghdr *nlh, Doomed *d) {
        char s[NOTATION_STRLEN], name[RT_NAME_STRLEN];
        FibRule rule;
        FibRoute route;

        if (nlh->nlmsg_type == RTM_NEWRULE && fib_rule_from_netlink(nlh, &rule) >= 0)
                snprintf(d->text, sizeof(d->text), "rule %s %s", family_to_string(rule.family),
                         notation_rule(t->k, &rule, true, s));
        else if (fib_route_from_netlink(nlh, &route) >= 0)
                snprintf(d->text, sizeof(d->text), "route %s %s table %s", family_to_string(route.family),
                         notation_route(t->k, &route, s), ctl_table_name(t->k, route.table, name));
}

/* rtnl_dump() repeats an interrupted dump with a new sequence number: start over then. */
typedef struct Collect {
        Teardown *t;
        size_t start;
        uint32_t seq;
} Collect;

static int on_object(const struct nlmsghdr *nlh, void *userdata) {
        Collect *c = userdata;
        Teardown *t = c->t;
        Doomed *d;

        if (nlh->nlmsg_seq != c->seq) {
                for (size_t i = c->start; i < t->n_doomed; i++)
                        free(t->doomed[i].nlh);
                t->n_doomed = c->start;
                c->seq = nlh->nlmsg_seq;
        }
        if ((nlh->nlmsg_type != RTM_NEWRULE && nlh->nlmsg_type != RTM_NEWROUTE) ||
            !message_is_ours(t, nlh) || nlh->nlmsg_len > RTNL_MESSAGE_MAX)
                return 0;
        d = reallocarray(t->doomed, t->n_doomed + 1, sizeof(Doomed));
        if (!d)
                return -ENOMEM;
        t->doomed = d;
        d = &t->doomed[t->n_doomed];
        *d = (Doomed) { .nlh = malloc(nlh->nlmsg_len) };
        if (!d->nlh)
                return -ENOMEM;
        memcpy(d->nlh, nlh, nlh->nlmsg_len);
        doomed_describe(t, nlh, d);
        t->n_doomed++;
        return 0;
}

/* Rules first: pool traffic then takes the main table at once, instead of a half-emptied policy table. */
static int teardown_collect(Teardown *t) {
        static const uint16_t types[] = { RTM_GETRULE, RTM_GETROUTE };
        static const int families[] = { AF_INET, AF_INET6 };

        for (size_t i = 0; i < ELEMENTSOF(types); i++)
                for (size_t j = 0; j < ELEMENTSOF(families); j++) {
                        Collect c = { .t = t, .start = t->n_doomed, .seq = UINT32_MAX };
                        int r = rtnl_dump(t->k->rtnl, types[i], families[j], 0, on_object, &c);

                        if (r < 0)
                                return r;
                }
        return 0;
}

static int teardown_collect_nft(Teardown *t) {
        int r;

        r = nft_new(NULL, NULL, NULL, &t->nft);
        if (r < 0)
                return r;
        r = nft_present(t->nft);
        if (r < 0)
                return r;
        t->nft_table = r > 0;
        return 0;
}

static size_t teardown_count(const Teardown *t) {
        return t->n_doomed + t->nft_table;
}

static void teardown_list(const Teardown *t) {
        for (size_t i = 0; i < t->n_doomed; i++)
                printf("%s\n", t->doomed[i].text);
        if (t->nft_table)
                printf("nftables table inet %s\n", NFT_TABLE_NAME);
        if (teardown_count(t) == 0)
                printf("No rule or route of vpnpolicy's (proto %d) in the kernel, and no nftables table inet %s.\n",
                       VPNPOLICY_PROTO, NFT_TABLE_NAME);
}

static bool teardown_confirm(const Teardown *t) {
        char answer[16] = "";

        if (t->yes)
                return true;
        if (!isatty(STDIN_FILENO)) {
                fprintf(stderr, "teardown: standard input is not a terminal; pass --yes to remove without asking.\n");
                return false;
        }
        printf("Remove these %zu objects and vpnpolicy's iproute2 names? [y/N] ", teardown_count(t));
        fflush(stdout);
        if (!fgets(answer, sizeof(answer), stdin))
                return false;
        return answer[0] == 'y' || answer[0] == 'Y';
}

static void on_ack(size_t index, int error, const char *ext_ack, void *userdata) {
        Teardown *t = userdata;

        /* Gone already (someone else removed it meanwhile) is what we wanted. */
        t->doomed[index].error = error == -ENOENT || error == -ESRCH ? 0 : error;
        if (t->doomed[index].error < 0 && ext_ack)
                fprintf(stderr, "teardown: %s: %s\n", t->doomed[index].text, ext_ack);
}

/* The delete is the dumped object itself with the other message type. */
static int build_delete(size_t index, struct nlmsghdr *nlh, void *userdata) {
        const Teardown *t = userdata;
        const struct nlmsghdr *old = t->doomed[index].nlh;
        size_t len = old->nlmsg_len - sizeof(struct nlmsghdr);

        if (len > RTNL_MESSAGE_MAX - sizeof(struct nlmsghdr))
                return -E2BIG;
        nlh->nlmsg_type = old->nlmsg_type == RTM_NEWRULE ? RTM_DELRULE : RTM_DELROUTE;
        memcpy(mnl_nlmsg_get_payload(nlh), mnl_nlmsg_get_payload(old), len);
        nlh->nlmsg_len += (uint32_t) len;
        return 0;
}

static int teardown_delete(Teardown *t) {
        int r;

        r = rtnl_send(t->k->rtnl, t->n_doomed, build_delete, on_ack, t);
        if (r < 0)
                return r;
        /* Last: until the rules are gone, the leak guard still holds pool traffic back. */
        if (t->nft_table) {
                t->nft_error = nft_remove(t->nft);
                t->nft_error = MIN(t->nft_error, 0);
        }
        return 0;
}

static int teardown_report(const Teardown *t) {
        const char *dir = t->iproute2_dir ?: IPROUTE2_DIR_DEFAULT;
        int failed = 0, r;

        for (size_t i = 0; i < t->n_doomed; i++) {
                if (t->doomed[i].error < 0) {
                        fprintf(stderr, "teardown: cannot remove %s: %s\n", t->doomed[i].text,
                                strerror(-t->doomed[i].error));
                        failed++;
                } else
                        printf("removed %s\n", t->doomed[i].text);
        }
        if (t->nft_table && t->nft_error < 0) {
                fprintf(stderr, "teardown: cannot remove the nftables table inet %s: %s%s%s\n", NFT_TABLE_NAME,
                        strerror(-t->nft_error), nft_last_error(t->nft) ? ": " : "", nft_last_error(t->nft) ?: "");
                failed++;
        } else if (t->nft_table)
                printf("removed nftables table inet %s\n", NFT_TABLE_NAME);
        r = rt_files_remove(dir);
        if (r == -EEXIST)
                fprintf(stderr, "teardown: %s/rt_tables.d/%s or rt_protos.d/%s was not written by vpnpolicyd, "
                        "left in place\n", dir, RT_FILES_OURS, RT_FILES_OURS);
        else if (r < 0)
                fprintf(stderr, "teardown: cannot remove vpnpolicy's files in %s: %s\n", dir, strerror(-r));
        else
                printf("removed %s/rt_tables.d/%s and %s/rt_protos.d/%s (if they were there)\n", dir, RT_FILES_OURS,
                       dir, RT_FILES_OURS);
        return failed > 0 || r < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
}

static void teardown_done(Teardown *t) {
        for (size_t i = 0; i < t->n_doomed; i++)
                free(t->doomed[i].nlh);
        free(t->doomed);
        nft_free(t->nft);
        ctl_kernel_free(t->k);
}

int ctl_teardown(const CtlContext *c, int argc, char *argv[]) {
        _cleanup_(teardown_done) Teardown t = {};
        int r;

        if (teardown_parse_argv(argc, argv, &t) < 0)
                return CTL_EXIT_USAGE;
        if (agent_running(c))
                return CTL_EXIT_FAILURE;
        teardown_tables(&t, c);
        r = ctl_kernel_open(t.iproute2_dir ?: IPROUTE2_DIR_DEFAULT, &t.k);
        if (r >= 0)
                r = teardown_collect(&t);
        if (r < 0) {
                fprintf(stderr, "teardown: cannot read the kernel's rules and routes: %s\n", strerror(-r));
                return CTL_EXIT_FAILURE;
        }
        r = teardown_collect_nft(&t);
        if (r < 0) {
                fprintf(stderr, "teardown: cannot read the nftables ruleset: %s\n", strerror(-r));
                return CTL_EXIT_FAILURE;
        }
        teardown_list(&t);
        if (!teardown_confirm(&t))
                return t.yes || isatty(STDIN_FILENO) ? CTL_EXIT_FAILURE : CTL_EXIT_USAGE;
        r = teardown_delete(&t);
        if (r < 0) {
                fprintf(stderr, "teardown: cannot send the deletions: %s\n", strerror(-r));
                return CTL_EXIT_FAILURE;
        }
        return teardown_report(&t);
}
