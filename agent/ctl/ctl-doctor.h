/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "config.h"
#include "ctl-kernel.h"
#include "ctl.h"

/* vpnpolicyctl doctor: read-only checks, each finding with a severity and the exact fix. The checks live
 * in ctl-doctor-kernel.c (sysctls, rules, routes), ctl-doctor-gateways.c (each gateway of each policy: link,
 * neighbour, probes, return route), ctl-doctor-host.c (iproute2 names,
 * systemd-networkd, NetworkManager), ctl-doctor-dco.c (routes into DCO devices), ctl-doctor-wireguard.c
 * (WireGuard devices) and ctl-doctor-openvpn.c (OpenVPN server configurations; their data-channel offload in
 * ctl-doctor-openvpn-dco.c). */

/* The OpenVPN up hook the package installs. */
#define OPENVPN_SERVER_DIR "/etc/openvpn/server"
#define HOOK_PATH LIBEXECDIR "/vpnpolicy/vpnpolicy-openvpn-up"

typedef enum Severity {
        SEVERITY_INFO,
        SEVERITY_WARNING,
        SEVERITY_ERROR,
        _SEVERITY_MAX,
        _SEVERITY_INVALID = -EINVAL,
} Severity;

typedef struct Doctor {
        const CtlContext *ctl;
        Config *config;                 /* NULL when it does not load: the checks that need it are skipped */
        char *config_path;              /* the file loaded, or tried */
        const char *iproute2_dir;       /* NULL: /etc/iproute2 (and /usr/share/iproute2 for clashes) */
        bool rt_tables_clash;           /* the configuration loaded only without its rt_tables check */
        json_t *status;                 /* the agent's GetStatus reply; NULL without the agent */
        char *status_error;             /* why there is none */
        bool status_refused;            /* the agent answered, refusing us */
        CtlKernel *kernel;
        char **openvpn_configs;         /* --openvpn-config FILE */
        const char *openvpn_dir;        /* --openvpn-dir DIR; NULL: OPENVPN_SERVER_DIR */
        bool assume_dco;                /* --assume-dco: managed tun devices count as DCO ones */
        json_t *findings, *skipped;
} Doctor;

/* Records a finding and returns it, for finding_fix(); NULL only when out of memory. */
json_t *doctor_add(Doctor *d, Severity s, const char *check, const char *fmt, ...) _printf_(4, 5);
int check_leak_guard(Doctor *d);
/* Appends one fix: a command to run or a configuration line, exactly as to be typed. */
void finding_fix(json_t *f, const char *fmt, ...) _printf_(2, 3);
void doctor_skip(Doctor *d, const char *check, const char *fmt, ...) _printf_(3, 4);

/* /proc/sys/net/PATH as a number, PATH built from fmt; -errno if unreadable. */
int doctor_sysctl(const char *fmt, ...) _printf_(1, 2);
/* The devices the agent manages: its status, else the agent's rule applied to the kernel's devices (a
 * tunnel matching [Tunnels] Match= with an address inside a pool; root's registrations are unknown then). */
char **doctor_tunnels(const Doctor *d);
/* The agent's rule: the device carries an address inside one of the pools. */
bool doctor_link_has_pool_address(const Doctor *d, int ifindex);
/* A data-channel offload device (ovpn-dco, ovpn; with --assume-dco also a managed tun). */
bool doctor_link_is_dco(const Doctor *d, const LinkInfo *l);
/* The device gateway g is reached by in family: its Device=, else the kernel's route to it. -ENODEV when
 * Device= names no device, -ENOENT when g has no address of family. */
int doctor_gateway_ifindex(Doctor *d, const GatewayConfig *g, int family);
/* Any policy has pools of family. */
bool doctor_has_family(const Doctor *d, int family);
/* The agent's status of policy p (policies[]), of its gateway g, and of g's health in family; NULL without
 * the agent, or when it does not know them. */
json_t *doctor_status_policy(const Doctor *d, const PolicyConfig *p);
json_t *doctor_status_gateway(const Doctor *d, const PolicyConfig *p, const GatewayConfig *g);
json_t *doctor_status_health(const Doctor *d, const PolicyConfig *p, const GatewayConfig *g, int family);
/* The n-th address of p (0: its first), if p has that many. */
bool prefix_host(const Prefix *p, unsigned n, InAddrUnion *ret);
/* An address outside every private range (RFC 5737 TEST-NET-2, RFC 3849), for "traffic to the Internet". */
const InAddrUnion *doctor_outside(int family);
/* "IPv4" or "IPv6", for people. */
const char *family_name(int family);
/* ip(8)'s family switch: "-4" or "-6". */
const char *ip_family_flag(int family);

int check_agent(Doctor *d);
int check_tunnels(Doctor *d);
int check_forwarding(Doctor *d);
int check_send_redirects(Doctor *d);
int check_rp_filter(Doctor *d);
int check_source_rules(Doctor *d);
int check_default_routes(Doctor *d);
int check_conflicts(Doctor *d);
int check_gateways(Doctor *d);
int check_return_routes(Doctor *d);
int check_rt_tables(Doctor *d);
int check_networkd(Doctor *d);
int check_network_manager(Doctor *d);
int check_openvpn(Doctor *d);
int check_dco_routes(Doctor *d);
int check_wireguard(Doctor *d);
