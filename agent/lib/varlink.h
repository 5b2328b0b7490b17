/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "macro.h"

/* The varlink wire protocol (https://varlink.org): JSON objects terminated by a NUL byte over a Unix
 * stream socket. Requests {"method": "io.vpnpolicy.X", "parameters": {...}}, replies {"parameters": {...}}
 * or {"error": "NAME", "parameters": {...}}. One request at a time per connection: the next request is
 * read only after the previous one was answered. */

#define VARLINK_ERROR_METHOD_NOT_FOUND "org.varlink.service.MethodNotFound"
#define VARLINK_ERROR_INVALID_PARAMETER "org.varlink.service.InvalidParameter"
#define VARLINK_ERROR_PERMISSION_DENIED "org.varlink.service.PermissionDenied"
#define VARLINK_ERROR_EXPECTED_MORE "org.varlink.service.ExpectedMore"
#define VARLINK_ERROR_REQUEST_TOO_LARGE "io.vpnpolicy.RequestTooLarge"

#define VARLINK_REQUEST_MAX (64U * 1024U)      /* larger requests are refused and the connection closed */
/* Connection budgets. Root (the hook, the admin) is never refused for lack of room. Non-root peers the
 * daemon serves (varlink_server_set_privileged(): ReadGroup= members, RegisterUser=) have room of their
 * own, which the others can never take; per uid half of each, so one user cannot lock the others out. */
#define VARLINK_CONNECTIONS_MAX 4096U            /* further connections from other non-root peers are closed at once */
#define VARLINK_CONNECTIONS_PER_UID_MAX 2048U
#define VARLINK_CONNECTIONS_PRIVILEGED_MAX 1024U /* the same for the non-root peers the daemon serves */
#define VARLINK_CONNECTIONS_PRIVILEGED_PER_UID_MAX 512U
#define VARLINK_FD_RESERVE 256U /* descriptors below RLIMIT_NOFILE that unprivileged peers never get */
#define VARLINK_IDLE_TIMEOUT_USEC (10U * 1000000U) /* an idle connection, a started request or an unread
                                                     * answer gets this long */
#define VARLINK_REPLY_MAX (256U * 1024U * 1024U) /* varlink_call() refuses larger replies: status at 100k routes is ~30 MiB */

typedef struct VarlinkServer VarlinkServer;
typedef struct VarlinkCall VarlinkCall;

#define VARLINK_PEER_GROUPS_MAX 64U

typedef struct VarlinkPeer {
        pid_t pid;
        uid_t uid;
        gid_t gid;
        gid_t groups[VARLINK_PEER_GROUPS_MAX];  /* supplementary groups the process holds (SO_PEERGROUPS) */
        unsigned n_groups;                      /* more than the maximum are not looked at */
} VarlinkPeer;

/* The peer's primary group or one of the supplementary groups it held when it connected. */
bool varlink_peer_in_group(const VarlinkPeer *peer, gid_t gid);

/* Called once per well-formed request. The method must answer it exactly once with varlink_call_reply()
 * or varlink_call_error(), now or later from another event: the call stays valid until then even when the
 * peer hangs up (the answer is then dropped). parameters is borrowed (an object, {} when absent). */
typedef void (*varlink_method_t)(VarlinkCall *call, const char *method, json_t *parameters,
                                 const VarlinkPeer *peer, void *userdata);

/* fd >= 0: a listening socket handed over by systemd, owned by the server on success; else bind PATH (mode
 * 0666 from the umask at bind(), access is decided per method from the peer's credentials) in an existing
 * directory, replacing a
 * stale socket file: -EADDRINUSE when another process still listens on it, -EEXIST when PATH is not a
 * socket. The method callback must not free the server. */
int varlink_server_new(sd_event *e, const char *path, int fd, varlink_method_t method, void *userdata,
                       VarlinkServer **ret);
/* Whether a non-root peer is one the daemon serves (authorized for some method), asked once per connection
 * when it is accepted, with the server's userdata. It keeps the varlink layer free of any policy. Without
 * it, every non-root peer counts as unprivileged. */
typedef bool (*varlink_privileged_t)(const VarlinkPeer *peer, void *userdata);
void varlink_server_set_privileged(VarlinkServer *s, varlink_privileged_t privileged);
VarlinkServer *varlink_server_free(VarlinkServer *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(VarlinkServer *, varlink_server_free);
unsigned varlink_server_connections(const VarlinkServer *s);
/* Accepts no further connection; those accepted are still served. A socket handed over by systemd keeps
 * the ones that come meanwhile for the next instance. */
void varlink_server_stop_accepting(VarlinkServer *s);

/* Both take ownership of parameters (NULL means {}) and consume the call in every case. They return 0 also
 * when the answer is dropped (oneway request, peer gone); < 0 when it could not be queued, the connection is
 * then closed. */
int varlink_call_reply(VarlinkCall *call, json_t *parameters);
int varlink_call_error(VarlinkCall *call, const char *error, json_t *parameters);
/* Convenience: error with {"reason": "..."}. */
int varlink_call_errorf(VarlinkCall *call, const char *error, const char *fmt, ...) _printf_(3, 4);

/* One request, the pure part of the server (the fuzzer drives it directly). */
typedef struct VarlinkRequest {
        json_t *json;       /* the whole request, owned; NULL when invalid */
        const char *method; /* borrowed from json */
        json_t *parameters; /* borrowed from json; {} when absent */
        bool oneway;
        bool more;          /* accepted; a single reply without "continues" ends the call */
        json_t *invalid;    /* owned, only when malformed: the parameters of the InvalidParameter reply */
} VarlinkRequest;

/* Parses the bytes of one request, without its terminating NUL. A malformed request is not a failure: it
 * returns 0 with only ->invalid set. Fails only with -ENOMEM. */
int varlink_request_parse(const char *buf, size_t size, VarlinkRequest *ret);
void varlink_request_done(VarlinkRequest *req);

/* Blocking client call. Returns 0 with *ret_parameters on a reply; 1 on an error reply, with *ret_error
 * (the error name, owned by caller) and *ret_parameters; -errno when the socket cannot be reached
 * (-ENOENT, -ECONNREFUSED), on timeout (-ETIMEDOUT) or a malformed reply (-EBADMSG; -EMSGSIZE beyond
 * VARLINK_REPLY_MAX; -ECONNRESET when closed without a reply). parameters is borrowed; NULL sends {}.
 * timeout_usec covers connect, send and receive together; UINT64_MAX waits forever. ret_parameters and
 * ret_error may be NULL. */
int varlink_call(const char *path, const char *method, json_t *parameters, uint64_t timeout_usec,
                 json_t **ret_parameters, char **ret_error);
