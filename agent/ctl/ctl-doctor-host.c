/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "conf-files.h"
#include "ctl-doctor.h"
#include "fs-util.h"
#include "parse-util.h"
#include "rt-files.h"
#include "strv.h"

/* The doctor's host checks: iproute2's names for our table and protocol, and the network managers that
 * delete what they did not create. Files are read as best we can; what is absent is skipped. */

static const int families[] = { AF_INET, AF_INET6 };

static void rt_clash_finding(Doctor *d, const RtNameEntry *e, bool by_id, const char *map, const char *ours) {
        bool table = streq(map, "rt_tables");
        json_t *f;

        if (by_id)
                f = doctor_add(d, SEVERITY_ERROR, "rt-tables", "%s %u is already named \"%s\" in %s:%u, vpnpolicy "
                               "names it \"%s\": vpnpolicyd refuses to start", table ? "table" : "protocol", e->id,
                               e->name, e->path, e->line, ours);
        else
                f = doctor_add(d, SEVERITY_ERROR, "rt-tables", "the name \"%s\" already means %s %u in %s:%u: "
                               "vpnpolicyd refuses to start", e->name, table ? "table" : "protocol", e->id, e->path,
                               e->line);
        finding_fix(f, "sed -i '%ud' %s (if nothing else uses that name)", e->line, e->path);
        if (table)
                finding_fix(f, "or choose another: [Table] %s in %s", by_id ? "Id=N" : "Name=NAME", d->config_path);
}

static int rt_clash_dir(Doctor *d, const char *dir, const char *map, uint32_t id, const char *name) {
        _cleanup_(rt_name_entry_freep) RtNameEntry *by_id = NULL, *by_name = NULL;
        int r;

        r = rt_names_find_clash(dir, map, id, name, &by_id, &by_name);
        if (r < 0)
                return r;
        if (by_id)
                rt_clash_finding(d, by_id, true, map, name);
        if (by_name)
                rt_clash_finding(d, by_name, false, map, name);
        return r;
}

static void rt_name_missing(Doctor *d, const PolicyConfig *p, const char *dir) {
        json_t *f;

        f = doctor_add(d, SEVERITY_WARNING, "rt-tables", "table %u has no name in %s/rt_tables*: ip(8) shows it "
                       "as %u, and `ip route show table %s` fails", p->table_id, dir, p->table_id, p->table_name);
        if (d->status)
                finding_fix(f, "vpnpolicyd writes %s/rt_tables.d/%s: does it run with another --iproute2-dir?", dir,
                            RT_FILES_OURS);
        else
                finding_fix(f, "systemctl enable --now vpnpolicyd (it writes %s/rt_tables.d/%s)", dir, RT_FILES_OURS);
        finding_fix(f, "or by hand: echo '%u %s' >>%s/rt_tables", p->table_id, p->table_name, dir);
}

/* One policy's table: no clash in either directory, and named as the policy says. */
static int rt_tables_policy(Doctor *d, const PolicyConfig *p, const char *dir) {
        char name[RT_NAME_STRLEN];
        int clash = 0, r;

        for (unsigned i = 0; i < (d->iproute2_dir ? 1U : 2U); i++) {
                r = rt_clash_dir(d, i == 0 ? dir : IPROUTE2_DIR_VENDOR, "rt_tables", p->table_id, p->table_name);
                if (r < 0)
                        return r;
                clash += r;
        }
        if (clash == 0 && !streq(ctl_table_name(d->kernel, p->table_id, name), p->table_name))
                rt_name_missing(d, p, dir);
        return 0;
}

int check_rt_tables(Doctor *d) {
        const char *dir = d->iproute2_dir ?: IPROUTE2_DIR_DEFAULT;
        int r;

        for (unsigned i = 0; i < (d->iproute2_dir ? 1U : 2U); i++) {
                r = rt_clash_dir(d, i == 0 ? dir : IPROUTE2_DIR_VENDOR, "rt_protos", VPNPOLICY_PROTO,
                                 VPNPOLICY_PROTO_NAME);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < d->config->n_policies; i++) {
                r = rt_tables_policy(d, &d->config->policies[i], dir);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---------------------------------------------------------------------------------------------------------
 * INI files (networkd.conf, NetworkManager.conf, keyfiles): the last value of KEY in [SECTION]. */

/* Only regular files of at most 1 MiB, opened non-blocking: a FIFO or a device among them must not hang
 * the doctor or eat its memory. */
static int ini_get(const char *path, const char *section, const char *key, char **value) {
        _cleanup_(freep) char *text = NULL;
        size_t klen = strlen(key);
        char *next, *s;
        bool in = false;
        int r;

        r = read_file_regular(path, 1024U * 1024U, &text, NULL);
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        next = text;
        while ((s = strsep(&next, "\n"))) {
                s += strspn(s, " \t");
                s[strcspn(s, "\r")] = 0;
                if (*s == '[')
                        in = strncmp(s + 1, section, strlen(section)) == 0 && s[1 + strlen(section)] == ']';
                else if (in && strncmp(s, key, klen) == 0 && s[klen + strspn(s + klen, " \t")] == '=') {
                        s += klen + strspn(s + klen, " \t") + 1;
                        free(*value);
                        *value = strdup(s + strspn(s, " \t"));
                }
        }
        return 0;
}

static bool path_exists(const char *path) {
        struct stat st;

        return lstat(path, &st) >= 0;
}

static int strcmp_ptr(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Drop-ins the systemd way (systemd.unit(5), "drop-in"): every NAME.conf of the directories, a later
 * directory's file replacing an earlier one of the same name, applied in the order of their names. */
static char **dropins_collect(const char *const *dirs, size_t n_dirs) {
        _cleanup_strv_free_ char **names = NULL;
        char **paths = NULL;

        for (size_t d = 0; d < n_dirs; d++) {
                _cleanup_strv_free_ char **here = NULL;

                (void) conf_files_list(dirs[d], &here);
                STRV_FOREACH(name, here)
                        if (!strv_contains(names, *name))
                                (void) strv_extend(&names, *name);
        }
        if (names)
                qsort(names, strv_length(names), sizeof(char *), strcmp_ptr);
        STRV_FOREACH(name, names)
                for (size_t d = n_dirs; d > 0; d--) {
                        _cleanup_(freep) char *p = NULL;

                        if (asprintf(&p, "%s/%s", dirs[d - 1], *name) >= 0 && path_exists(p)) {
                                (void) strv_extend(&paths, p);
                                break;
                        }
                }
        return paths;
}

/* The value of KEY in [SECTION] of MAIN and its drop-ins, the last one read winning; NULL if unset. */
static char *conf_get(const char *main_file, const char *const *dirs, size_t n_dirs, const char *section,
                      const char *key) {
        _cleanup_strv_free_ char **dropins = dropins_collect(dirs, n_dirs);
        char *value = NULL;

        if (main_file)
                (void) ini_get(main_file, section, key, &value);
        STRV_FOREACH(p, dropins)
                (void) ini_get(*p, section, key, &value);
        return value;
}

/* A unit enabled the usual way: a symlink in a .wants directory of /etc/systemd/system. */
static bool unit_enabled(const char *target, const char *unit) {
        char path[256];

        snprintf(path, sizeof(path), "/etc/systemd/system/%s.wants/%s", target, unit);
        return path_exists(path);
}

/* ---------------------------------------------------------------------------------------------------------
 * systemd-networkd: since v249 (ManageForeignRoutingPolicyRules=, networkd.conf(5)) and v246
 * (ManageForeignRoutes=) it deletes rules and routes it did not make, ours included, whenever it
 * configures a link. */

static const char *const networkd_dirs[] = {
        "/usr/lib/systemd/networkd.conf.d", "/run/systemd/networkd.conf.d", "/etc/systemd/networkd.conf.d",
};

static bool networkd_manages(const char *key) {
        _cleanup_(freep) char *v = conf_get("/etc/systemd/networkd.conf", networkd_dirs, ELEMENTSOF(networkd_dirs),
                                            "Network", key);
        bool b;

        return !v || parse_bool(v, &b) < 0 || b;        /* the default is yes */
}

int check_networkd(Doctor *d) {
        bool running = ctl_find_process("systemd-networkd") > 0;
        bool enabled = unit_enabled("multi-user.target", "systemd-networkd.service") ||
                       unit_enabled("sockets.target", "systemd-networkd.socket");
        bool rules = networkd_manages("ManageForeignRoutingPolicyRules");
        bool routes = networkd_manages("ManageForeignRoutes");
        json_t *f;

        if (!running && !enabled && !path_exists("/etc/systemd/networkd.conf"))
                return 0;
        if (!rules && !routes)
                return 0;
        f = doctor_add(d, running || enabled ? SEVERITY_WARNING : SEVERITY_INFO, "networkd",
                       "systemd-networkd is %s and deletes %s%s%s it did not create, ours included, whenever it "
                       "configures a link (%s%s%s): vpnpolicyd restores them, but traffic leaks or drops meanwhile",
                       running ? "running" : enabled ? "enabled" : "installed (not running)",
                       rules ? "routing policy rules" : "", rules && routes ? " and " : "", routes ? "routes" : "",
                       rules ? "ManageForeignRoutingPolicyRules=yes" : "", rules && routes ? ", " : "",
                       routes ? "ManageForeignRoutes=yes" : "");
        finding_fix(f, "mkdir -p /etc/systemd/networkd.conf.d && printf '[Network]\\n%s%s' "
                    ">/etc/systemd/networkd.conf.d/90-vpnpolicy.conf",
                    rules ? "ManageForeignRoutingPolicyRules=no\\n" : "", routes ? "ManageForeignRoutes=no\\n" : "");
        if (running)
                finding_fix(f, "systemctl restart systemd-networkd");
        return 0;
}

/* ---------------------------------------------------------------------------------------------------------
 * NetworkManager: a device it manages loses its routes (the policy table's default route via it too)
 * whenever NetworkManager reactivates it. No nmcli or D-Bus: its state and configuration files. */

static const char *const nm_conf_dirs[] = {
        "/usr/lib/NetworkManager/conf.d", "/run/NetworkManager/conf.d", "/etc/NetworkManager/conf.d",
};

/* NetworkManager.conf(5) "Device List Format": we understand interface-name:[=~]GLOB and "*". */
static bool nm_spec_matches(const char *list, const char *dev) {
        _cleanup_(freep) char *copy = strdup(list);
        char *save = NULL;

        for (char *s = copy ? strtok_r(copy, ";,", &save) : NULL; s; s = strtok_r(NULL, ";,", &save)) {
                s += strspn(s, " 	");
                if (streq(s, "*"))
                        return true;
                if (strncmp(s, "interface-name:", 15) != 0)
                        continue;
                s += 15;
                s += *s == '=' || *s == '~';
                if (fnmatch(s, dev, 0) == 0)
                        return true;
        }
        return false;
}

static bool nm_unmanaged_by_config(const char *dev) {
        _cleanup_(freep) char *list = conf_get("/etc/NetworkManager/NetworkManager.conf", nm_conf_dirs,
                                               ELEMENTSOF(nm_conf_dirs), "keyfile", "unmanaged-devices");

        return list && nm_spec_matches(list, dev);
}

/* /run/NetworkManager/devices/IFINDEX records "managed=" of a device it has seen; -1 when unknown. */
static int nm_runtime_managed(int ifindex) {
        _cleanup_(freep) char *v = NULL;
        char path[64];
        bool b;

        snprintf(path, sizeof(path), "/run/NetworkManager/devices/%d", ifindex);
        if (ini_get(path, "device", "managed", &v) < 0 || !v || parse_bool(v, &b) < 0)
                return -1;
        return b;
}

/* A connection profile bound to the device ([connection] interface-name=, nm-settings-keyfile(5)). */
static bool nm_has_profile(const char *dev) {
        static const char *const dirs[] = {
                "/etc/NetworkManager/system-connections", "/run/NetworkManager/system-connections",
        };

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                struct dirent **des = NULL;
                int n = scandir(dirs[i], &des, NULL, alphasort);
                bool found = false;

                for (int j = 0; j < n; j++) {
                        _cleanup_(freep) char *p = NULL, *v = NULL;

                        if (!found && des[j]->d_name[0] != '.' && asprintf(&p, "%s/%s", dirs[i], des[j]->d_name) >= 0 &&
                            ini_get(p, "connection", "interface-name", &v) >= 0 && v && streq(v, dev))
                                found = true;
                        free(des[j]);
                }
                free(des);
                if (found)
                        return true;
        }
        return false;
}

static void nm_device(Doctor *d, const LinkInfo *l, bool running, bool enabled) {
        int runtime = running ? nm_runtime_managed(l->ifindex) : -1;
        json_t *f;

        /* By default NetworkManager manages every device it is not told to leave alone. */
        if (runtime == 0 || (runtime < 0 && nm_unmanaged_by_config(l->name)))
                return;
        if (!running && !enabled && !nm_has_profile(l->name))
                return;
        f = doctor_add(d, running || enabled ? SEVERITY_WARNING : SEVERITY_INFO, "networkmanager",
                       "NetworkManager %s %s, the gateway's device: when it reactivates the device the routes via "
                       "it go, the policy table's default route too, until vpnpolicyd restores them",
                       running ? "manages" : enabled ? "is enabled and would manage" : "is installed and has a profile for",
                       l->name);
        if (running)
                finding_fix(f, "nmcli device set %s managed no", l->name);
        finding_fix(f, "printf '[keyfile]\\nunmanaged-devices=interface-name:%s\\n' "
                    ">/etc/NetworkManager/conf.d/90-vpnpolicy.conf", l->name);
}

/* The devices of every gateway of every policy, each once. */
static char **gateway_devices(Doctor *d) {
        char **l = NULL;

        for (size_t i = 0; i < d->config->n_policies; i++)
                for (size_t j = 0; j < d->config->policies[i].n_gateways; j++)
                        for (size_t k = 0; k < ELEMENTSOF(families); k++) {
                                int ifindex = doctor_gateway_ifindex(d, &d->config->policies[i].gateways[j],
                                                                     families[k]);
                                const LinkInfo *li = ifindex > 0 ? ctl_link_by_index(d->kernel, ifindex) : NULL;

                                if (li && !strv_contains(l, li->name))
                                        (void) strv_extend(&l, li->name);
                        }
        return l;
}

int check_network_manager(Doctor *d) {
        bool running = ctl_find_process("NetworkManager") > 0;
        bool enabled = unit_enabled("multi-user.target", "NetworkManager.service");
        _cleanup_strv_free_ char **devs = NULL;

        if (!running && !enabled && !path_exists("/etc/NetworkManager"))
                return 0;       /* not installed */
        devs = gateway_devices(d);
        STRV_FOREACH(dev, devs) {
                const LinkInfo *l = ctl_link_by_name(d->kernel, *dev);

                if (l)
                        nm_device(d, l, running, enabled);
        }
        return 0;
}
