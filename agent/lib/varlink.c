/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "varlink-client.h"
#include "varlink.h"
#include "vpnpolicy-defs.h"

#define VARLINK_BUFFER_MIN 4096U
#define VARLINK_ACCEPT_BATCH 64U /* accepts per wakeup, so a flood of connections cannot starve the loop */
#define VARLINK_ACCEPT_RETRY_USEC (100U * 1000U)
#define VARLINK_GET_INFO "org.varlink.service.GetInfo"

typedef struct VarlinkConnection VarlinkConnection;

struct VarlinkConnection {
        VarlinkServer *server;
        VarlinkConnection *prev, *next;
        int fd;
        VarlinkPeer peer;
        bool privileged;               /* a non-root peer the daemon serves: counted in its own budget */
        sd_event_source *io_source;
        sd_event_source *timer_source; /* deadline for a partial request or an unread answer */
        sd_event_source *defer_source; /* resumes the connection once the method answered */
        char *in;                      /* read, not yet dispatched: in[in_start..in_size) */
        size_t in_start, in_size, in_allocated;
        char *out; /* queued, not yet written: out[out_start..out_size) */
        size_t out_start, out_size;
        VarlinkCall *call; /* the dispatched request, until the method answers it */
        bool eof;          /* the peer sends nothing more */
        bool close_after_write;
};

struct VarlinkCall {
        VarlinkConnection *connection; /* NULL once the connection is gone: the answer is dropped */
        bool oneway;
};

struct VarlinkServer {
        sd_event *event;
        int fd;
        sd_event_source *listen_source;
        sd_event_source *retry_source; /* re-enables accepting after running out of fds */
        varlink_method_t method;
        varlink_privileged_t privileged;
        void *userdata;
        VarlinkConnection *connections;
        unsigned n_connections;
        unsigned n_class[2];            /* non-root connections: [0] unprivileged, [1] privileged */
};

/* sd_event_source_disable_unref() needs libsystemd 243; we support 239. */
static sd_event_source *event_source_free(sd_event_source *s) {
        if (s) {
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
                sd_event_source_unref(s);
        }
        return NULL;
}

/* ---- Requests ---- */

static int request_invalid(VarlinkRequest *ret, const char *parameter, const char *fmt, ...) _printf_(3, 4);

static int request_invalid(VarlinkRequest *ret, const char *parameter, const char *fmt, ...) {
        _cleanup_(json_decrefp) json_t *invalid = NULL;
        char reason[256];
        json_t *s;
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(reason, sizeof(reason), fmt, ap);
        va_end(ap);

        invalid = json_object();
        if (!invalid)
                return -ENOMEM;
        if (parameter && json_object_set_new(invalid, "parameter", json_string(parameter)) < 0)
                return -ENOMEM;
        /* The reason may quote the request (jansson's error text does), and truncation may cut a UTF-8
         * sequence: fall back to a fixed text rather than fail. */
        s = json_string(reason) ?: json_string("Malformed request");
        if (json_object_set_new(invalid, "reason", s) < 0)
                return -ENOMEM;

        *ret = (VarlinkRequest) { .invalid = TAKE_PTR(invalid) };
        return 0;
}

static int request_check_bool(json_t *json, const char *key, bool *ret) {
        json_t *v = json_object_get(json, key);

        if (v && !json_is_boolean(v))
                return -EINVAL;
        *ret = json_is_true(v);
        return 0;
}

int varlink_request_parse(const char *buf, size_t size, VarlinkRequest *ret) {
        _cleanup_(json_decrefp) json_t *json = NULL;
        json_t *method, *parameters;
        bool oneway, more;
        json_error_t error;

        assert(buf || size == 0);
        assert(ret);

        json = json_loadb(buf ?: "", size, JSON_REJECT_DUPLICATES, &error);
        if (!json) {
                if (json_error_code(&error) == json_error_out_of_memory)
                        return -ENOMEM;
                return request_invalid(ret, NULL, "Request is not valid JSON: %s (at byte %d)", error.text,
                                       error.position);
        }
        if (!json_is_object(json))
                return request_invalid(ret, NULL, "Request is not a JSON object");

        method = json_object_get(json, "method");
        if (!json_is_string(method) || json_string_length(method) == 0)
                return request_invalid(ret, "method", "Missing, empty or not a string");

        parameters = json_object_get(json, "parameters");
        if (!parameters) {
                /* Methods always get an object: add {} so it is owned by the request like a sent one. */
                parameters = json_object();
                if (json_object_set_new(json, "parameters", parameters) < 0)
                        return -ENOMEM;
        } else if (!json_is_object(parameters))
                return request_invalid(ret, "parameters", "Not an object");

        if (request_check_bool(json, "oneway", &oneway) < 0)
                return request_invalid(ret, "oneway", "Not a boolean");
        if (request_check_bool(json, "more", &more) < 0)
                return request_invalid(ret, "more", "Not a boolean");
        if (oneway && more)
                return request_invalid(ret, "more", "Cannot be combined with oneway");

        *ret = (VarlinkRequest) {
                .method = json_string_value(method),
                .parameters = parameters,
                .oneway = oneway,
                .more = more,
                .json = TAKE_PTR(json),
        };
        return 0;
}

void varlink_request_done(VarlinkRequest *req) {
        if (!req)
                return;
        json_decref(req->json);
        json_decref(req->invalid);
        *req = (VarlinkRequest) {};
}

/* {"error": ERROR, "parameters": PARAMETERS}, NUL included. Takes ownership of parameters. */
static int message_format(const char *error, json_t *parameters, char **ret, size_t *ret_size) {
        _cleanup_(json_decrefp) json_t *m = NULL;
        char *s;

        if (parameters && !json_is_object(parameters)) {
                json_decref(parameters);
                return -EINVAL;
        }
        m = json_object();
        if (!m) {
                json_decref(parameters);
                return -ENOMEM;
        }
        /* json_object_set_new() takes the value even when it fails. */
        if (json_object_set_new(m, "parameters", parameters ?: json_object()) < 0)
                return -ENOMEM;
        if (error && json_object_set_new(m, "error", json_string(error)) < 0)
                return -EINVAL; /* not UTF-8 */

        /* jansson escapes NUL in strings, so the only NUL is the terminator, which frames the message. */
        s = json_dumps(m, JSON_COMPACT);
        if (!s)
                return -ENOMEM;
        *ret_size = strlen(s) + 1;
        *ret = s;
        return 0;
}

/* ---- Server connections ---- */

static VarlinkConnection *connection_free(VarlinkConnection *c) {
        if (!c)
                return NULL;

        if (c->call)
                c->call->connection = NULL;
        if (c->server) {
                if (c->prev)
                        c->prev->next = c->next;
                else
                        c->server->connections = c->next;
                if (c->next)
                        c->next->prev = c->prev;
                c->server->n_connections--;
                if (c->peer.uid != 0)
                        c->server->n_class[c->privileged]--;
        }
        /* Safe from inside the io callback: sd-event detaches a source freed during its dispatch. */
        event_source_free(c->io_source);
        event_source_free(c->timer_source);
        event_source_free(c->defer_source);
        safe_close(c->fd);
        free(c->in);
        free(c->out);
        free(c);
        return NULL;
}

static int connection_enqueue(VarlinkConnection *c, const char *error, json_t *parameters) {
        _cleanup_(freep) char *m = NULL;
        size_t size;
        char *p;
        int r;

        r = message_format(error, parameters, &m, &size);
        if (r < 0)
                return r;

        if (c->out_start == c->out_size) {
                free(c->out);
                c->out = TAKE_PTR(m);
                c->out_start = 0;
                c->out_size = size;
                return 0;
        }
        p = realloc(c->out, c->out_size + size);
        if (!p)
                return -ENOMEM;
        memcpy(p + c->out_size, m, size);
        c->out = p;
        c->out_size += size;
        return 0;
}

static int connection_write(VarlinkConnection *c) {
        while (c->out_start < c->out_size) {
                ssize_t n;

                n = send(c->fd, c->out + c->out_start, c->out_size - c->out_start,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        return -errno;
                }
                c->out_start += n;
        }
        c->out = mfree(c->out);
        c->out_start = c->out_size = 0;
        return 0;
}

/* Moves the pending bytes to the front and grows the buffer, up to VARLINK_REQUEST_MAX. */
static int connection_make_room(VarlinkConnection *c) {
        size_t pending = c->in_size - c->in_start, allocated;
        char *p;

        assert(pending < VARLINK_REQUEST_MAX);

        if (c->in_start > 0) {
                memmove(c->in, c->in + c->in_start, pending);
                c->in_start = 0;
                c->in_size = pending;
        }
        if (c->in_size < c->in_allocated)
                return 0;

        allocated = MIN(MAX(c->in_allocated * 2, VARLINK_BUFFER_MIN), VARLINK_REQUEST_MAX);
        p = realloc(c->in, allocated);
        if (!p)
                return -ENOMEM;
        c->in = p;
        c->in_allocated = allocated;
        return 0;
}

static int connection_read(VarlinkConnection *c) {
        ssize_t n;
        int r;

        r = connection_make_room(c);
        if (r < 0)
                return r;

        n = recv(c->fd, c->in + c->in_size, c->in_allocated - c->in_size, MSG_DONTWAIT);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        if (n == 0)
                c->eof = true;
        c->in_size += n;
        return 0;
}

static void connection_consume(VarlinkConnection *c, size_t n) {
        c->in_start += n;
        if (c->in_start < c->in_size)
                return;

        /* Idle connections hold no buffer. */
        c->in = mfree(c->in);
        c->in_start = c->in_size = c->in_allocated = 0;
}

static int connection_refuse_too_large(VarlinkConnection *c) {
        json_t *parameters;

        /* Framing is lost: answer, then close. */
        connection_consume(c, c->in_size - c->in_start);
        c->close_after_write = true;
        parameters = json_pack("{s:I}", "max", (json_int_t) VARLINK_REQUEST_MAX);
        return connection_enqueue(c, VARLINK_ERROR_REQUEST_TOO_LARGE, parameters);
}

static json_t *server_info_new(void) {
        return json_pack("{s:s, s:s, s:s, s:s, s:[s, s]}",
                         "vendor", "vpnpolicy",
                         "product", "vpnpolicyd",
                         "version", VERSION,
                         "url", "https://github.com/vpnpolicy/vpnpolicy",
                         "interfaces", "io.vpnpolicy", "org.varlink.service");
}

static int connection_call(VarlinkConnection *c, const VarlinkRequest *req) {
        VarlinkServer *s = c->server;
        VarlinkCall *call;

        call = malloc(sizeof(VarlinkCall));
        if (!call)
                return -ENOMEM;
        *call = (VarlinkCall) { .connection = c, .oneway = req->oneway };
        c->call = call;

        if (streq(req->method, VARLINK_GET_INFO)) {
                json_t *info = server_info_new();

                if (!info) {
                        c->call = NULL;
                        free(call);
                        return -ENOMEM;
                }
                return varlink_call_reply(call, info);
        }

        s->method(call, req->method, req->parameters, &c->peer, s->userdata);
        return 0;
}

/* Dispatches the next complete request. Returns 1 if one was taken from the buffer, 0 if none is whole. */
static int connection_dispatch(VarlinkConnection *c) {
        _cleanup_(varlink_request_done) VarlinkRequest req = {};
        size_t pending = c->in_size - c->in_start;
        const char *p, *nul;
        int r;

        if (pending == 0)
                return 0;
        p = c->in + c->in_start;
        nul = memchr(p, 0, pending);
        if (!nul) {
                if (pending < VARLINK_REQUEST_MAX)
                        return 0;
                r = connection_refuse_too_large(c);
                return r < 0 ? r : 1;
        }

        r = varlink_request_parse(p, nul - p, &req);
        connection_consume(c, nul - p + 1);
        /* Each request gets its own deadline. */
        (void) sd_event_source_set_enabled(c->timer_source, SD_EVENT_OFF);
        if (r < 0)
                return r;

        /* Framing is intact, so the connection stays usable. */
        if (req.invalid)
                r = connection_enqueue(c, VARLINK_ERROR_INVALID_PARAMETER, TAKE_PTR(req.invalid));
        else
                r = connection_call(c, &req);
        return r < 0 ? r : 1;
}

static bool connection_wants_read(const VarlinkConnection *c) {
        return !c->call && c->out_start == c->out_size && !c->eof && !c->close_after_write;
}

static int connection_arm_timer(VarlinkConnection *c) {
        uint64_t now;
        int enabled, r;

        r = sd_event_source_get_enabled(c->timer_source, &enabled);
        if (r < 0)
                return r;
        if (enabled != SD_EVENT_OFF)
                return 0; /* keep the deadline: trickling bytes must not extend it */

        r = sd_event_now(c->server->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return r;
        r = sd_event_source_set_time(c->timer_source, now + VARLINK_IDLE_TIMEOUT_USEC);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(c->timer_source, SD_EVENT_ONESHOT);
}

static int connection_update(VarlinkConnection *c) {
        bool writing = c->out_start < c->out_size;
        uint32_t events = 0;
        int r;

        /* One request at a time: while a call is pending or its answer unwritten, the next one waits in
         * the kernel's buffer, which throttles the peer. EPOLLHUP and EPOLLERR are reported regardless. */
        if (connection_wants_read(c))
                events |= EPOLLIN;
        if (writing)
                events |= EPOLLOUT;
        r = sd_event_source_set_io_events(c->io_source, events);
        if (r < 0)
                return r;

        /* A slow or stuck peer must not pin memory or a file descriptor: an idle connection, a partial
         * request or an unread answer has a deadline. Only a call the method is still working on has not. */
        if (writing || !c->call)
                return connection_arm_timer(c);
        return sd_event_source_set_enabled(c->timer_source, SD_EVENT_OFF);
}

/* Writes, dispatches what is buffered, re-arms. Returns > 0 when the connection is done, < 0 on error: the
 * caller frees it either way. */
static int connection_run(VarlinkConnection *c) {
        int r;

        for (;;) {
                r = connection_write(c);
                if (r < 0)
                        return r;
                if (c->out_start < c->out_size || c->call)
                        break;
                if (c->close_after_write)
                        return 1;
                r = connection_dispatch(c);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
        }

        if (c->eof && !c->call && c->out_start == c->out_size)
                return 1; /* what is left in the buffer can never complete */
        return connection_update(c);
}

static int connection_on_io(_unused_ sd_event_source *source, _unused_ int fd, uint32_t revents,
                            void *userdata) {
        VarlinkConnection *c = userdata;
        int r;

        if (connection_wants_read(c)) {
                if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                        r = connection_read(c);
                        if (r < 0) {
                                connection_free(c);
                                return 0;
                        }
                }
        } else if (!(revents & EPOLLOUT) && (revents & (EPOLLHUP | EPOLLERR))) {
                /* Gone while its call is pending: the call lives on, its answer will be dropped. */
                connection_free(c);
                return 0;
        }

        /* Never return < 0 from here: sd-event would disable the source and the connection would hang. */
        r = connection_run(c);
        if (r != 0)
                connection_free(c);
        return 0;
}

static int connection_on_timer(_unused_ sd_event_source *source, _unused_ uint64_t usec, void *userdata) {
        connection_free(userdata);
        return 0;
}

static int connection_on_defer(_unused_ sd_event_source *source, void *userdata) {
        VarlinkConnection *c = userdata;

        if (connection_run(c) != 0)
                connection_free(c);
        return 0;
}

static int connection_add_sources(VarlinkConnection *c) {
        sd_event *e = c->server->event;
        int r;

        r = sd_event_add_io(e, &c->io_source, c->fd, EPOLLIN, connection_on_io, c);
        if (r < 0)
                return r;
        r = sd_event_add_time(e, &c->timer_source, CLOCK_MONOTONIC, 0, 0, connection_on_timer, c);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(c->timer_source, SD_EVENT_OFF);
        if (r < 0)
                return r;
        r = sd_event_add_defer(e, &c->defer_source, connection_on_defer, c);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(c->defer_source, SD_EVENT_OFF);
}

/* Takes ownership of fd. */

/* SO_PEERGROUPS (Linux 4.13): the groups the peer process holds, which is what a group check means. When
 * the kernel lacks it or the peer has more groups than we keep, we keep what fits, or none. */
static void peer_groups(int fd, VarlinkPeer *peer) {
        socklen_t l = sizeof(peer->groups);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, peer->groups, &l) < 0) {
                peer->n_groups = 0;
                return;
        }
        peer->n_groups = (unsigned) (l / sizeof(gid_t));
}

bool varlink_peer_in_group(const VarlinkPeer *peer, gid_t gid) {
        if (peer->gid == gid)
                return true;
        for (unsigned i = 0; i < peer->n_groups; i++)
                if (peer->groups[i] == gid)
                        return true;
        return false;
}

static unsigned server_connections_of(const VarlinkServer *s, uid_t uid, bool privileged) {
        unsigned n = 0;

        for (const VarlinkConnection *c = s->connections; c; c = c->next)
                n += c->peer.uid == uid && c->privileged == privileged;
        return n;
}

/* The unprivileged peers' budget, also bounded by the open-file limit: whatever they do, the last
 * VARLINK_FD_RESERVE descriptors stay for root and the peers the daemon serves (the limit is read each
 * time: it may be raised at run time). */
static unsigned server_unprivileged_max(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
                return VARLINK_CONNECTIONS_MAX;
        if (rl.rlim_cur <= VARLINK_FD_RESERVE)
                return 0;
        return (unsigned) MIN(rl.rlim_cur - VARLINK_FD_RESERVE, (rlim_t) VARLINK_CONNECTIONS_MAX);
}

/* Root is never refused for lack of room; everyone else is capped, in all and per user, in the budget of
 * its class, so that no user can crowd the others out, and unauthorized users never the authorized. */
static bool server_has_room(const VarlinkServer *s, const VarlinkPeer *peer, bool privileged) {
        if (peer->uid == 0)
                return true;
        if (privileged)
                return s->n_class[1] < VARLINK_CONNECTIONS_PRIVILEGED_MAX &&
                       server_connections_of(s, peer->uid, true) < VARLINK_CONNECTIONS_PRIVILEGED_PER_UID_MAX;
        return s->n_class[0] < server_unprivileged_max() &&
               server_connections_of(s, peer->uid, false) < VARLINK_CONNECTIONS_PER_UID_MAX;
}

static int server_add_connection(VarlinkServer *s, int fd) {
        _cleanup_(closep) int owned = fd;
        VarlinkConnection *c;
        VarlinkPeer peer;
        struct ucred ucred;
        socklen_t l = sizeof(ucred);
        bool privileged;
        int r;

        /* At accept time: the credentials of the process that connected, not of whoever writes later. */
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &ucred, &l) < 0)
                return -errno;
        peer = (VarlinkPeer) { .pid = ucred.pid, .uid = ucred.uid, .gid = ucred.gid };
        peer_groups(fd, &peer);
        privileged = peer.uid != 0 && s->privileged && s->privileged(&peer, s->userdata);
        if (!server_has_room(s, &peer, privileged))
                return -EMFILE;

        c = calloc(1, sizeof(VarlinkConnection));
        if (!c)
                return -ENOMEM;
        c->fd = TAKE_FD(owned);
        c->peer = peer;
        c->privileged = privileged;
        c->server = s;
        c->next = s->connections;
        if (c->next)
                c->next->prev = c;
        s->connections = c;
        s->n_connections++;
        if (c->peer.uid != 0)
                s->n_class[c->privileged]++;

        r = connection_add_sources(c);
        if (r >= 0)
                r = connection_arm_timer(c);
        if (r < 0) {
                connection_free(c);
                return r;
        }
        return 0;
}

/* ---- Server ---- */

static int server_on_retry(_unused_ sd_event_source *source, _unused_ uint64_t usec, void *userdata) {
        VarlinkServer *s = userdata;

        (void) sd_event_source_set_enabled(s->listen_source, SD_EVENT_ON);
        return 0;
}

/* Out of fds or memory: the listening socket stays readable, so stop watching it for a while rather than
 * spin; connections closing meanwhile free what we lack. */
static int server_pause_accept(VarlinkServer *s) {
        uint64_t now;
        int r;

        r = sd_event_now(s->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return r;
        if (!s->retry_source) {
                r = sd_event_add_time(s->event, &s->retry_source, CLOCK_MONOTONIC, 0, 0,
                                      server_on_retry, s);
                if (r < 0)
                        return r;
        }
        r = sd_event_source_set_time(s->retry_source, now + VARLINK_ACCEPT_RETRY_USEC);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(s->retry_source, SD_EVENT_ONESHOT);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(s->listen_source, SD_EVENT_OFF);
}

void varlink_server_stop_accepting(VarlinkServer *s) {
        if (!s)
                return;
        (void) sd_event_source_set_enabled(s->listen_source, SD_EVENT_OFF);
        if (s->retry_source)
                (void) sd_event_source_set_enabled(s->retry_source, SD_EVENT_OFF);
}

static int server_on_listen(_unused_ sd_event_source *source, int fd, _unused_ uint32_t revents,
                            void *userdata) {
        VarlinkServer *s = userdata;

        for (unsigned i = 0; i < VARLINK_ACCEPT_BATCH; i++) {
                int cfd;

                cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (cfd < 0) {
                        if (errno == EAGAIN)
                                break;
                        /* accept(2): errors of the pending connection, not of the listening socket. */
                        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO || errno == EPERM)
                                continue;
                        (void) server_pause_accept(s);
                        break;
                }
                /* On failure, including too many connections, the peer sees the connection closed. */
                (void) server_add_connection(s, cfd);
        }
        return 0;
}

/* A socket file left by a previous instance is removed; one that still has a listener is not ours. */
static int socket_remove_stale(const struct sockaddr_un *sa, socklen_t sa_len) {
        _cleanup_(closep) int fd = -EBADF;
        struct stat st;

        if (lstat(sa->sun_path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode))
                return -EEXIST;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        /* Non-blocking connect to a full backlog fails with EAGAIN: also a live listener. */
        if (connect(fd, (const struct sockaddr *) sa, sa_len) >= 0 || errno == EAGAIN)
                return -EADDRINUSE;
        if (errno != ECONNREFUSED && errno != ENOENT)
                return -errno;

        if (unlink(sa->sun_path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

static int socket_listen_path(const char *path, int *ret_fd) {
        _cleanup_(closep) int fd = -EBADF;
        struct sockaddr_un sa;
        socklen_t sa_len;
        mode_t mask;
        int r;

        r = varlink_client_sockaddr(path, &sa, &sa_len);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        r = socket_remove_stale(&sa, sa_len);
        if (r < 0)
                return r;
        /* Everyone may connect: each method checks the peer's credentials. The mode comes from the umask
         * at bind() (unix_bind() in net/unix/af_unix.c makes the inode 0777 & ~umask), not from a chmod()
         * by name afterwards, which would follow a symlink swapped in meanwhile. The daemon is
         * single-threaded: the process umask is ours to change around the call. */
        mask = umask(0111);
        r = bind(fd, (const struct sockaddr *) &sa, sa_len) < 0 ? -errno : 0;
        (void) umask(mask);
        if (r < 0)
                return r;
        if (listen(fd, SOMAXCONN) < 0)
                return -errno;

        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* systemd passes sockets without O_NONBLOCK, and we make sure of CLOEXEC. */
static int socket_adopt(int fd) {
        int accepting = 0, flags;
        socklen_t l = sizeof(accepting);

        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &l) < 0)
                return -errno;
        if (!accepting)
                return -EINVAL; /* e.g. a socket unit with Accept=yes */

        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
                return -errno;
        return 0;
}

int varlink_server_new(sd_event *e, const char *path, int fd, varlink_method_t method, void *userdata,
                       VarlinkServer **ret) {
        _cleanup_(varlink_server_freep) VarlinkServer *s = NULL;
        _cleanup_(closep) int bound = -EBADF;
        int r;

        assert(e);
        assert(path || fd >= 0);
        assert(method);
        assert(ret);

        if (fd >= 0)
                r = socket_adopt(fd);
        else
                r = socket_listen_path(path, &bound);
        if (r < 0)
                return r;

        s = calloc(1, sizeof(VarlinkServer));
        if (!s)
                return -ENOMEM;
        *s = (VarlinkServer) {
                .event = sd_event_ref(e),
                .fd = -EBADF,
                .method = method,
                .userdata = userdata,
        };

        r = sd_event_add_io(e, &s->listen_source, fd >= 0 ? fd : bound, EPOLLIN, server_on_listen, s);
        if (r < 0)
                return r;

        /* The adopted fd becomes ours only now, on success. */
        s->fd = fd >= 0 ? fd : TAKE_FD(bound);
        *ret = TAKE_PTR(s);
        return 0;
}

void varlink_server_set_privileged(VarlinkServer *s, varlink_privileged_t privileged) {
        assert(s);
        s->privileged = privileged;
}

VarlinkServer *varlink_server_free(VarlinkServer *s) {
        if (!s)
                return NULL;

        while (s->connections)
                connection_free(s->connections);
        event_source_free(s->listen_source);
        event_source_free(s->retry_source);
        safe_close(s->fd);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

unsigned varlink_server_connections(const VarlinkServer *s) {
        return s ? s->n_connections : 0;
}

/* ---- Answers ---- */

static int call_answer(VarlinkCall *call, const char *error, json_t *parameters) {
        VarlinkConnection *c = call->connection;
        bool oneway = call->oneway;
        int r = 0, k;

        assert(!c || c->call == call);
        free(call);

        if (!c || oneway)
                json_decref(parameters);
        else
                r = connection_enqueue(c, error, parameters);
        if (!c)
                return 0;

        c->call = NULL;
        if (r < 0)
                c->close_after_write = true; /* rather than leave the peer waiting for an answer */
        /* Resume from the loop, never from here: the method may be answering from inside its dispatch. */
        k = sd_event_source_set_enabled(c->defer_source, SD_EVENT_ONESHOT);
        return r < 0 ? r : k;
}

int varlink_call_reply(VarlinkCall *call, json_t *parameters) {
        assert(call);
        return call_answer(call, NULL, parameters);
}

int varlink_call_error(VarlinkCall *call, const char *error, json_t *parameters) {
        assert(call);
        assert(error);
        return call_answer(call, error, parameters);
}

int varlink_call_errorf(VarlinkCall *call, const char *error, const char *fmt, ...) {
        _cleanup_(freep) char *reason = NULL;
        va_list ap;
        int r;

        assert(call);
        assert(error);
        assert(fmt);

        va_start(ap, fmt);
        r = vasprintf(&reason, fmt, ap);
        va_end(ap);

        /* Without memory, or with a reason that is not UTF-8, the error name alone still answers. */
        return varlink_call_error(call, error, r < 0 ? NULL : json_pack("{s:s}", "reason", reason));
}

/* ---- Client ---- */

static int reply_parse(const char *buf, size_t size, json_t **ret_parameters, char **ret_error) {
        _cleanup_(json_decrefp) json_t *json = NULL, *parameters = NULL;
        _cleanup_(freep) char *error_name = NULL;
        json_t *error;

        json = json_loadb(buf, size, 0, NULL);
        if (!json_is_object(json))
                return -EBADMSG;

        parameters = json_incref(json_object_get(json, "parameters")) ?: json_object();
        if (!json_is_object(parameters))
                return parameters ? -EBADMSG : -ENOMEM;
        error = json_object_get(json, "error");
        if (error && !json_is_string(error))
                return -EBADMSG;
        if (error) {
                error_name = strdup(json_string_value(error));
                if (!error_name)
                        return -ENOMEM;
        }

        if (ret_parameters)
                *ret_parameters = TAKE_PTR(parameters);
        if (ret_error)
                *ret_error = TAKE_PTR(error_name);
        return error ? 1 : 0;
}

int varlink_call(const char *path, const char *method, json_t *parameters, uint64_t timeout_usec,
                 json_t **ret_parameters, char **ret_error) {
        _cleanup_(freep) char *request = NULL, *reply = NULL;
        _cleanup_(json_decrefp) json_t *m = NULL;
        uint64_t deadline;
        size_t reply_size = 0;
        int r;

        assert(path);
        assert(method);

        deadline = varlink_client_deadline(timeout_usec);

        if (parameters && !json_is_object(parameters))
                return -EINVAL;
        m = json_object();
        if (!m)
                return -ENOMEM;
        if (json_object_set_new(m, "method", json_string(method)) < 0)
                return -EINVAL; /* not UTF-8 */
        if (json_object_set_new(m, "parameters", parameters ? json_incref(parameters) : json_object()) < 0)
                return -ENOMEM;
        request = json_dumps(m, JSON_COMPACT);
        if (!request)
                return -ENOMEM;

        r = varlink_client_transact(path, request, deadline, VARLINK_REPLY_MAX - 1, &reply, &reply_size);
        if (r < 0)
                return r;
        return reply_parse(reply, reply_size, ret_parameters, ret_error);
}
