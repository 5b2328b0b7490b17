/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vpnpolicy-metricsd: GET /metrics over HTTP, for Prometheus to scrape. A separate, unprivileged process
 * (vpnpolicyd-metrics.service, sandboxed) that asks vpnpolicyd over its control socket like any client,
 * so the daemon gains no privilege and no network socket. The listening socket comes from systemd
 * (vpnpolicyd-metrics.socket); HTTP is libmicrohttpd's, driven from this single-threaded loop.
 *
 * What it refuses, and keeps serving: other paths (404), other methods (405), requests with headers
 * larger than REQUEST_MEMORY (libmicrohttpd answers 431 and closes), more than CONNECTIONS_MAX
 * connections at once, a connection silent for IDLE_TIMEOUT_SEC, and one that has not completed a
 * request within REQUEST_DEADLINE_USEC of its start or of its previous request (a slow sender, a slow
 * reader). libmicrohttpd logs nothing (MHD_USE_ERROR_LOG off): a client sending junk must not fill the
 * journal. */
#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include "macro.h"
#include "metrics.h"
#include "time-util.h"
#include "varlink.h"
#include "vpnpolicy-defs.h"

#define CONNECTIONS_MAX 32U
#define REQUEST_MEMORY (16U * 1024U)           /* per connection: request line and headers must fit */
#define IDLE_TIMEOUT_SEC 10U
#define REQUEST_DEADLINE_USEC (10U * USEC_PER_SEC)
#define AGENT_TIMEOUT_USEC (5U * USEC_PER_SEC)
/* Scrapes closer together than this (several Prometheus servers) share one answer of the agent. */
#define CACHE_USEC (USEC_PER_SEC / 2U)
/* The loop runs libmicrohttpd at least this often. At its connection limit it takes the listening socket
 * out of its epoll set and puts it back only from MHD_run(), and MHD_get_timeout() does not say so
 * (0.9.75): without a bound, the poll below would wait forever once a flood of connections is gone. */
#define LOOP_MAX_MS 1000U

typedef struct Conn {
        struct MHD_Connection *connection;
        uint64_t deadline;              /* CLOCK_MONOTONIC */
        bool cut;
        struct Conn *next, **prev;
} Conn;

typedef struct Server {
        const char *socket_path;
        struct MHD_Daemon *mhd;
        Conn *conns;
        char *text;                     /* the last rendering, and when it was made */
        size_t size;
        uint64_t text_at;
        int agent_state;                /* 1 reachable, 0 not, -1 not asked yet: log changes only */
} Server;

static void log_agent(Server *s, int r, const char *error) {
        int state = r == 0;

        if (state == s->agent_state)
                return;
        s->agent_state = state;
        if (state)
                fprintf(stderr, "vpnpolicyd answers at %s.\n", s->socket_path);
        else if (r > 0)
                fprintf(stderr, "vpnpolicyd refused GetMetrics: %s (this service's user must be root or in "
                        "[Control] ReadGroup=), serving vpnpolicy_up 0.\n", error ?: "?");
        else
                fprintf(stderr, "Cannot reach vpnpolicyd at %s: %s, serving vpnpolicy_up 0.\n", s->socket_path,
                        strerror(-r));
}

/* Asks the agent (at most every CACHE_USEC) and renders; an agent that cannot be asked gives
 * vpnpolicy_up 0. */
static int server_refresh(Server *s) {
        _cleanup_(freep) char *error = NULL, *buf = NULL;
        json_t *reply = NULL;
        size_t size = 0;
        FILE *f;
        int r, k;

        if (s->text && now_monotonic() < s->text_at + CACHE_USEC)
                return 0;
        r = varlink_call(s->socket_path, "io.vpnpolicy.GetMetrics", NULL, AGENT_TIMEOUT_USEC, &reply, &error);
        log_agent(s, r, error);
        f = open_memstream(&buf, &size);
        if (!f) {
                json_decref(reply);
                return -ENOMEM;
        }
        k = r == 0 ? metrics_render(f, reply) : metrics_render_down(f);
        json_decref(reply);
        if (fclose(f) != 0 && k >= 0)
                k = -ENOMEM;
        if (k < 0)
                return k;
        free(s->text);
        s->text = TAKE_PTR(buf);
        s->size = size;
        s->text_at = now_monotonic();
        return 0;
}

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *type, const char *body,
                               size_t size, bool allow) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(size, (void *) (uintptr_t) body,
                                                                    MHD_RESPMEM_MUST_COPY);
        enum MHD_Result ret;

        if (!resp)
                return MHD_NO;
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        if (allow)
                (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        ret = MHD_queue_response(c, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result respond_text(struct MHD_Connection *c, unsigned status, const char *text, bool allow) {
        return respond(c, status, "text/plain; charset=utf-8", text, strlen(text), allow);
}

/* Answers on the first call, before any body is read: a request with a body is refused (405 for
 * methods other than GET and HEAD; 413 for a GET carrying one) and libmicrohttpd then closes the
 * connection instead of reading it. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **req_cls) {
        Server *s = cls;
        const char *length;

        if (!streq(method, MHD_HTTP_METHOD_GET) && !streq(method, MHD_HTTP_METHOD_HEAD))
                return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "Only GET and HEAD.\n", true);
        if (!streq(url, "/metrics"))
                return respond_text(c, MHD_HTTP_NOT_FOUND, "Not found: the metrics are at /metrics.\n", false);
        length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if ((length && !streq(length, "0")) ||
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
                /* 413 Content Too Large: its macro was renamed in 0.9.74, the number stays. */
                return respond_text(c, 413, "A GET takes no body.\n", false);
        if (server_refresh(s) < 0)
                return respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "Out of memory.\n", false);
        return respond(c, MHD_HTTP_OK, METRICS_CONTENT_TYPE, s->text, s->size, false);
}

/* ---- connections and their deadlines ---- */

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
        Server *s = cls;
        Conn *conn = *socket_context;

        if (code == MHD_CONNECTION_NOTIFY_STARTED) {
                conn = calloc(1, sizeof(Conn));
                if (!conn)
                        return;         /* no deadline then; the idle timeout still holds */
                *conn = (Conn) { .connection = c, .deadline = now_monotonic() + REQUEST_DEADLINE_USEC };
                conn->next = s->conns;
                conn->prev = &s->conns;
                if (s->conns)
                        s->conns->prev = &conn->next;
                s->conns = conn;
                *socket_context = conn;
                return;
        }
        if (!conn)
                return;
        *conn->prev = conn->next;
        if (conn->next)
                conn->next->prev = conn->prev;
        free(conn);
        *socket_context = NULL;
}

/* A request answered: the connection has another REQUEST_DEADLINE_USEC for the next one. */
static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        Conn *conn = info ? info->socket_context : NULL;

        if (conn)
                conn->deadline = now_monotonic() + REQUEST_DEADLINE_USEC;
}

/* Connections past their deadline are shut down (not closed: the descriptor stays libmicrohttpd's, which
 * sees the end of the stream and closes it itself). Returns the next deadline, 0 for none. */
static uint64_t server_sweep(Server *s) {
        uint64_t now = now_monotonic(), next = 0;

        for (Conn *conn = s->conns; conn; conn = conn->next) {
                const union MHD_ConnectionInfo *info;

                if (conn->cut)
                        continue;
                if (conn->deadline > now) {
                        next = next == 0 ? conn->deadline : MIN(next, conn->deadline);
                        continue;
                }
                info = MHD_get_connection_info(conn->connection, MHD_CONNECTION_INFO_CONNECTION_FD);
                if (info)
                        (void) shutdown(info->connect_fd, SHUT_RDWR);
                conn->cut = true;
        }
        return next;
}

/* ---- set-up and the loop ---- */

static int listen_fd(void) {
        int n = sd_listen_fds(true);

        if (n < 0)
                return n;
        if (n != 1) {
                fprintf(stderr, "Expected one listening socket from systemd (vpnpolicyd-metrics.socket), "
                        "got %d. Run it from its socket unit, or by hand with systemd-socket-activate -l "
                        "ADDRESS:PORT.\n", n);
                return -EBADF;
        }
        if (sd_is_socket(SD_LISTEN_FDS_START, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
                fprintf(stderr, "The socket from systemd is not a listening stream socket.\n");
                return -ENOTSOCK;
        }
        return SD_LISTEN_FDS_START;
}

static int server_start(Server *s, int fd) {
        s->mhd = MHD_start_daemon(MHD_USE_EPOLL, 0, NULL, NULL, on_request, s,
                                  MHD_OPTION_LISTEN_SOCKET, (MHD_socket) fd,
                                  MHD_OPTION_CONNECTION_LIMIT, (unsigned) CONNECTIONS_MAX,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) IDLE_TIMEOUT_SEC,
                                  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) REQUEST_MEMORY,
                                  MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                                  MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                  MHD_OPTION_END);
        if (!s->mhd) {
                fprintf(stderr, "Failed to start the HTTP server on the socket from systemd.\n");
                return -EIO;
        }
        return 0;
}

static int signals_fd(void) {
        sigset_t mask;
        int fd;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        /* Writing to a peer that went away gives EPIPE, not death. */
        signal(SIGPIPE, SIG_IGN);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return negative_errno();
        fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        return fd < 0 ? negative_errno() : fd;
}

static int poll_timeout(Server *s, uint64_t deadline) {
        MHD_UNSIGNED_LONG_LONG mhd_ms;
        uint64_t ms = UINT64_MAX, now = now_monotonic();

        if (MHD_get_timeout(s->mhd, &mhd_ms) == MHD_YES)
                ms = mhd_ms;
        if (deadline > 0)
                ms = MIN(ms, deadline > now ? (deadline - now + 999) / 1000 : 0);
        return (int) MIN(ms, (uint64_t) LOOP_MAX_MS);
}

static int server_loop(Server *s, int sigfd) {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
        uint64_t deadline = 0;

        if (!info)
                return -EIO;
        for (;;) {
                struct pollfd p[2] = {
                        { .fd = info->epoll_fd, .events = POLLIN },
                        { .fd = sigfd, .events = POLLIN },
                };

                if (poll(p, 2, poll_timeout(s, deadline)) < 0 && errno != EINTR)
                        return negative_errno();
                if (p[1].revents)
                        return 0;
                if (MHD_run(s->mhd) != MHD_YES)
                        fprintf(stderr, "The HTTP server's loop reported an error, going on.\n");
                deadline = server_sweep(s);
        }
}

static int parse_argv(int argc, char *argv[], const char **ret_runtime_dir) {
        static const struct option options[] = {
                { "runtime-dir", required_argument, NULL, 'r' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        int opt;

        while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (opt) {
                case 'r':
                        *ret_runtime_dir = optarg;
                        break;
                case 'h':
                        printf("Usage: vpnpolicy-metricsd [--runtime-dir DIR]\n\n"
                               "Serves vpnpolicyd's metrics at GET /metrics on the listening socket systemd\n"
                               "hands over (vpnpolicyd-metrics.socket). See vpnpolicyctl(8), METRICS.\n");
                        return 0;
                case 'V':
                        printf("vpnpolicy-metricsd %s\n", VERSION);
                        return 0;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "Unexpected argument '%s'.\n", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

int main(int argc, char *argv[]) {
        const char *runtime_dir = getenv("VPNPOLICY_RUNTIME_DIR") ?: RUNTIME_DIR_DEFAULT;
        _cleanup_(freep) char *path = NULL;
        _cleanup_(closep) int sigfd = -EBADF;
        Server s = { .agent_state = -1 };
        int r, fd;

        r = parse_argv(argc, argv, &runtime_dir);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (asprintf(&path, "%s/io.vpnpolicy", runtime_dir) < 0)
                return 1;
        s.socket_path = path;
        fd = listen_fd();
        sigfd = signals_fd();
        if (fd < 0 || sigfd < 0 || server_start(&s, fd) < 0)
                return 1;
        (void) sd_notify(false, "READY=1");
        r = server_loop(&s, sigfd);
        MHD_stop_daemon(s.mhd);
        free(s.text);
        if (r < 0) {
                fprintf(stderr, "Failed to wait for requests: %s\n", strerror(-r));
                return 1;
        }
        return 0;
}
