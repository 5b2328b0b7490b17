/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl-kernel.h"
#include "parse-util.h"
#include "rt-files.h"
#include "rtnl.h"

/* Appends one item, growing the array in powers of two. */
static int array_append(void **array, size_t *n, size_t size, const void *item) {
        if (*n == 0 || (*n & (*n - 1)) == 0) {
                void *p = reallocarray(*array, MAX(*n * 2, (size_t) 16), size);
                if (!p)
                        return -ENOMEM;
                *array = p;
        }
        memcpy((uint8_t *) *array + *n * size, item, size);
        (*n)++;
        return 0;
}

/* Where one dump appends. rtnl_dump() repeats a dump the kernel flagged as interrupted, with a new
 * sequence number: the items of the earlier attempt are dropped then. */
typedef struct DumpSink {
        void **array;
        size_t *n;
        size_t start;
        uint32_t seq;
        int (*parse)(const struct nlmsghdr *nlh, void *ret);
        size_t size;
        uint16_t type;
} DumpSink;

static int on_dump_message(const struct nlmsghdr *nlh, void *userdata) {
        DumpSink *s = userdata;
        union {
                LinkInfo link;
                AddressInfo address;
                FibRule rule;
                FibRoute route;
        } item;

        if (nlh->nlmsg_seq != s->seq) {
                *s->n = s->start;
                s->seq = nlh->nlmsg_seq;
        }
        if (nlh->nlmsg_type != s->type || s->parse(nlh, &item) < 0)
                return 0;
        return array_append(s->array, s->n, s->size, &item);
}

static int parse_link(const struct nlmsghdr *nlh, void *ret) {
        return link_from_netlink(nlh, ret);
}

static int parse_address(const struct nlmsghdr *nlh, void *ret) {
        return address_from_netlink(nlh, ret);
}

static int parse_rule(const struct nlmsghdr *nlh, void *ret) {
        return fib_rule_from_netlink(nlh, ret);
}

static int parse_route(const struct nlmsghdr *nlh, void *ret) {
        return fib_route_from_netlink(nlh, ret);
}

static int dump_into(CtlKernel *k, uint16_t type, int family, void **array, size_t *n, size_t size,
                     int (*parse)(const struct nlmsghdr *nlh, void *ret)) {
        DumpSink s = {
                .array = array, .n = n, .start = *n, .parse = parse, .size = size,
                .type = (uint16_t) (type == RTM_GETLINK ? RTM_NEWLINK : type == RTM_GETADDR ? RTM_NEWADDR :
                                    type == RTM_GETRULE ? RTM_NEWRULE : RTM_NEWROUTE),
        };

        s.seq = UINT32_MAX;
        return rtnl_dump(k->rtnl, type, family, 0, on_dump_message, &s);
}

static int kernel_dump(CtlKernel *k) {
        static const int families[] = { AF_INET, AF_INET6 };
        int r;

        r = dump_into(k, RTM_GETLINK, AF_UNSPEC, (void **) &k->links, &k->n_links, sizeof(LinkInfo), parse_link);
        if (r < 0)
                return r;
        r = dump_into(k, RTM_GETADDR, AF_UNSPEC, (void **) &k->addresses, &k->n_addresses,
                      sizeof(AddressInfo), parse_address);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(families); i++) {
                r = dump_into(k, RTM_GETRULE, families[i], (void **) &k->fib.rules, &k->fib.n_rules,
                              sizeof(FibRule), parse_rule);
                if (r >= 0)
                        r = dump_into(k, RTM_GETROUTE, families[i], (void **) &k->fib.routes, &k->fib.n_routes,
                                      sizeof(FibRoute), parse_route);
        }
        if (r >= 0)
                fib_rules_sort(&k->fib);        /* a no-op on a dump, which is in order; fib_walk() relies on it */
        return r;
}

typedef struct NameSink {
        RtName **names;
        size_t *n;
} NameSink;

static int on_name(const char *path, unsigned line, uint32_t id, const char *name, void *userdata) {
        NameSink *s = userdata;
        RtName e = { .id = id };

        if (strlen(name) >= sizeof(e.name))
                return 0;       /* shown as the number */
        snprintf(e.name, sizeof(e.name), "%s", name);
        return array_append((void **) s->names, s->n, sizeof(e), &e);
}

/* Every entry, in the order iproute2 reads them: the last one for an id wins (name_lookup()). */
static int names_read(const char *dir, const char *map, RtName **names, size_t *n) {
        NameSink s = { .names = names, .n = n };

        return rt_names_foreach(dir, map, false, on_name, &s);
}

static int kernel_names(CtlKernel *k, const char *dir) {
        /* Unreadable maps only cost names: numbers are shown instead. */
        (void) names_read(IPROUTE2_DIR_VENDOR, "rt_tables", &k->tables, &k->n_tables);
        (void) names_read(dir, "rt_tables", &k->tables, &k->n_tables);
        (void) names_read(IPROUTE2_DIR_VENDOR, "rt_protos", &k->protos, &k->n_protos);
        (void) names_read(dir, "rt_protos", &k->protos, &k->n_protos);
        return 0;
}

int ctl_kernel_open(const char *iproute2_dir, CtlKernel **ret) {
        _cleanup_(ctl_kernel_freep) CtlKernel *k = NULL;
        int r;

        k = calloc(1, sizeof(CtlKernel));
        if (!k)
                return -ENOMEM;
        r = rtnl_new(NULL, 0, NULL, NULL, NULL, &k->rtnl);
        if (r < 0)
                return r;
        r = kernel_dump(k);
        if (r < 0)
                return r;
        (void) kernel_names(k, iproute2_dir);
        *ret = TAKE_PTR(k);
        return 0;
}

CtlKernel *ctl_kernel_free(CtlKernel *k) {
        if (!k)
                return NULL;
        rtnl_free(k->rtnl);
        free(k->links);
        free(k->addresses);
        free(k->fib.rules);
        free(k->fib.routes);
        free(k->tables);
        free(k->protos);
        free(k);
        return NULL;
}

const LinkInfo *ctl_link_by_index(const CtlKernel *k, int ifindex) {
        for (size_t i = 0; i < k->n_links; i++)
                if (k->links[i].ifindex == ifindex)
                        return &k->links[i];
        return NULL;
}

const LinkInfo *ctl_link_by_name(const CtlKernel *k, const char *name) {
        for (size_t i = 0; i < k->n_links; i++)
                if (streq(k->links[i].name, name))
                        return &k->links[i];
        return NULL;
}

const char *ctl_ifname(const CtlKernel *k, int ifindex, char buf[static IFNAMSIZ]) {
        const LinkInfo *l = ctl_link_by_index(k, ifindex);

        if (l)
                return l->name;
        snprintf(buf, IFNAMSIZ, "#%d", ifindex);
        return buf;
}

const AddressInfo *ctl_address_on_subnet(const CtlKernel *k, int ifindex, int family, const InAddrUnion *a) {
        for (size_t i = 0; i < k->n_addresses; i++) {
                const AddressInfo *ai = &k->addresses[i];
                Prefix subnet;

                if (ai->family != family || (ifindex > 0 && ai->ifindex != ifindex))
                        continue;
                subnet = address_subnet(ai);
                if (prefix_contains(&subnet, family, a) && !addr_equal(family, &ai->local, a))
                        return ai;
        }
        return NULL;
}

static const char *name_lookup(const RtName *names, size_t n, uint32_t id) {
        for (size_t i = n; i > 0; i--)
                if (names[i - 1].id == id)
                        return names[i - 1].name;
        return NULL;
}

const char *ctl_table_name(const CtlKernel *k, uint32_t id, char buf[static RT_NAME_STRLEN]) {
        const char *s = name_lookup(k->tables, k->n_tables, id);

        if (!s)
                s = id == RT_TABLE_MAIN ? "main" : id == RT_TABLE_LOCAL ? "local" :
                    id == RT_TABLE_DEFAULT ? "default" : NULL;
        if (s)
                return s;
        snprintf(buf, RT_NAME_STRLEN, "%u", id);
        return buf;
}

/* The protocols rtnetlink.h names (RTPROT_*), as iproute2 prints them without an rt_protos file. */
static const char *proto_builtin(uint8_t id) {
        static const RtName builtin[] = {
                { 0, "unspec" }, { 1, "redirect" }, { 2, "kernel" }, { 3, "boot" }, { 4, "static" },
                { 8, "gated" }, { 9, "ra" }, { 10, "mrt" }, { 11, "zebra" }, { 12, "bird" },
                { 13, "dnrouted" }, { 14, "xorp" }, { 15, "ntk" }, { 16, "dhcp" }, { 17, "mrouted" },
                { 18, "keepalived" }, { 42, "babel" }, { 99, "openr" }, { 186, "bgp" }, { 187, "isis" },
                { 188, "ospf" }, { 189, "rip" }, { 192, "eigrp" },
        };

        return name_lookup(builtin, ELEMENTSOF(builtin), id);
}

const char *ctl_proto_name(const CtlKernel *k, uint8_t id, char buf[static RT_NAME_STRLEN]) {
        const char *s = name_lookup(k->protos, k->n_protos, id) ?: proto_builtin(id);

        if (s)
                return s;
        snprintf(buf, RT_NAME_STRLEN, "%u", id);
        return buf;
}

int ctl_route_get(CtlKernel *k, const RtnlRouteQuery *q, FibRoute *ret) {
        _cleanup_(freep) struct nlmsghdr *reply = NULL;
        int r;

        r = rtnl_route_get(k->rtnl, q, &reply);
        if (r < 0)
                return r;
        if (reply->nlmsg_type != RTM_NEWROUTE)
                return -EBADMSG;
        return fib_route_from_netlink(reply, ret);
}

int ctl_neigh_state(CtlKernel *k, int family, int ifindex, const InAddrUnion *a, uint16_t *ret) {
        _cleanup_(freep) struct nlmsghdr *reply = NULL;
        uint8_t req[128] = {};
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
        struct ndmsg *ndm;
        int r;

        /* A single entry (neigh_get() in net/core/neighbour.c): ifindex and NDA_DST, nothing else. */
        nlh->nlmsg_type = RTM_GETNEIGH;
        ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
        ndm->ndm_family = (uint8_t) family;
        ndm->ndm_ifindex = ifindex;
        mnl_attr_put(nlh, NDA_DST, family_addr_size(family), a->bytes);
        r = rtnl_call(k->rtnl, nlh, &reply);
        if (r < 0)
                return r;
        if (reply->nlmsg_type != RTM_NEWNEIGH || mnl_nlmsg_get_payload_len(reply) < sizeof(*ndm))
                return -EBADMSG;
        *ret = ((const struct ndmsg *) mnl_nlmsg_get_payload(reply))->ndm_state;
        return 0;
}

const char *neigh_state_name(uint16_t state) {
        static const struct {
                uint16_t state;
                const char *name;
        } names[] = {
                { NUD_INCOMPLETE, "INCOMPLETE" }, { NUD_REACHABLE, "REACHABLE" }, { NUD_STALE, "STALE" },
                { NUD_DELAY, "DELAY" }, { NUD_PROBE, "PROBE" }, { NUD_FAILED, "FAILED" },
                { NUD_NOARP, "NOARP" }, { NUD_PERMANENT, "PERMANENT" },
        };

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (state & names[i].state)
                        return names[i].name;
        return "NONE";
}

static bool process_in_our_netns(uint32_t pid, const struct stat *ours) {
        char path[64];
        struct stat st;

        snprintf(path, sizeof(path), "/proc/%u/ns/net", pid);
        return stat(path, &st) >= 0 && st.st_dev == ours->st_dev && st.st_ino == ours->st_ino;
}

static bool process_has_name(uint32_t pid, const char *name) {
        _cleanup_(closep) int fd = -EBADF;
        char path[64], argv0[256];
        const char *base;
        ssize_t n;

        snprintf(path, sizeof(path), "/proc/%u/cmdline", pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        n = read(fd, argv0, sizeof(argv0) - 1);
        if (n <= 0)
                return false;
        argv0[n] = 0;   /* argv[0] ends at its NUL */
        base = strrchr(argv0, '/');
        return streq(base ? base + 1 : argv0, name);
}

pid_t ctl_find_process(const char *name) {
        struct dirent *de;
        struct stat ours;
        pid_t found = 0;
        DIR *dir;

        if (stat("/proc/self/ns/net", &ours) < 0)
                return 0;
        dir = opendir("/proc");
        if (!dir)
                return 0;
        while (!found && (de = readdir(dir))) {
                uint32_t pid;

                if (parse_u32(de->d_name, &pid) < 0 || (pid_t) pid == getpid())
                        continue;
                if (process_has_name(pid, name) && process_in_our_netns(pid, &ours))
                        found = (pid_t) pid;
        }
        closedir(dir);
        return found;
}
