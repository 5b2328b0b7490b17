/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The varlink server runs in a forked child with its own sd-event loop (so sanitizers check it on its own
 * exit); the tests talk to it with varlink_call() and with raw sockets, as a misbehaving peer would. */

#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "varlink.h"
#include "tests.h"
#include "vpnpolicy-defs.h"

#define TIMEOUT_USEC (5U * 1000000U)
#define LATER_USEC (50U * 1000U)

static const char *test_dir;
static char test_socket[PATH_MAX];

/* ---- The server, in its child ---- */

typedef struct TestServer {
        sd_event *event;
        VarlinkServer *server;
        VarlinkCall *held;      /* test.Hold, answered by test.Release */
        VarlinkCall *never[64]; /* test.Never, answered (and dropped) at exit */
        unsigned n_never;
} TestServer;

static TestServer test_server;

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000U + (uint64_t) ts.tv_nsec / 1000U;
}

static int on_later(_unused_ sd_event_source *s, _unused_ uint64_t usec, void *userdata) {
        (void) varlink_call_reply(userdata, json_pack("{s:b}", "late", 1));
        return 0;
}

static void method_later(TestServer *t, VarlinkCall *call) {
        uint64_t now;

        if (sd_event_now(t->event, CLOCK_MONOTONIC, &now) < 0 ||
            sd_event_add_time(t->event, NULL, CLOCK_MONOTONIC, now + LATER_USEC, 0, on_later, call) < 0)
                (void) varlink_call_errorf(call, "test.Failed", "No timer");
}

static void method_release(TestServer *t, VarlinkCall *call) {
        int r = -ENOENT;

        if (t->held)
                r = varlink_call_reply(TAKE_PTR(t->held), json_pack("{s:s}", "to", "nobody"));
        (void) varlink_call_reply(call, json_pack("{s:i}", "r", r));
}

static void method_quit(TestServer *t, VarlinkCall *call) {
        for (unsigned i = 0; i < t->n_never; i++)
                (void) varlink_call_reply(t->never[i], NULL);
        t->n_never = 0;
        if (t->held)
                (void) varlink_call_reply(TAKE_PTR(t->held), NULL);
        (void) varlink_call_reply(call, NULL);
        (void) sd_event_exit(t->event, 0);
}

static void test_method(VarlinkCall *call, const char *method, json_t *parameters, const VarlinkPeer *peer,
                        void *userdata) {
        TestServer *t = userdata;

        if (streq(method, "test.Echo"))
                (void) varlink_call_reply(call, json_incref(parameters));
        else if (streq(method, "test.Fail"))
                (void) varlink_call_errorf(call, "test.Failed", "Asked to fail with %s", "style");
        else if (streq(method, "test.Later"))
                method_later(t, call);
        else if (streq(method, "test.Peer"))
                (void) varlink_call_reply(call, json_pack("{s:I, s:I, s:I}", "pid", (json_int_t) peer->pid,
                                                          "uid", (json_int_t) peer->uid,
                                                          "gid", (json_int_t) peer->gid));
        else if (streq(method, "test.Connections"))
                (void) varlink_call_reply(call, json_pack("{s:I}", "n",
                                                          (json_int_t) varlink_server_connections(t->server)));
        else if (streq(method, "test.Hold") && !t->held)
                t->held = call;
        else if (streq(method, "test.Release"))
                method_release(t, call);
        else if (streq(method, "test.Never") && t->n_never < ELEMENTSOF(t->never))
                t->never[t->n_never++] = call;
        else if (streq(method, "test.Quit"))
                method_quit(t, call);
        else
                (void) varlink_call_error(call, VARLINK_ERROR_METHOD_NOT_FOUND,
                                          json_pack("{s:s}", "method", method));
}

static pid_t server_pid;

/* Serves until test.Quit, then frees everything; the exit status tells the parent how that went. */
static _Noreturn void server_child(int ready_fd) {
        TestServer *t = &test_server;
        int r;

        r = sd_event_new(&t->event);
        if (r >= 0)
                r = varlink_server_new(t->event, test_socket, -EBADF, test_method, t, &t->server);
        if (r < 0) {
                fprintf(stderr, "Failed to start the server: %s\n", strerror(-r));
                exit(EXIT_FAILURE);
        }
        if (write(ready_fd, "1", 1) != 1)
                exit(EXIT_FAILURE);
        safe_close(ready_fd);

        r = sd_event_loop(t->event);
        t->server = varlink_server_free(t->server);
        t->event = sd_event_unref(t->event);
        exit(r < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
}

static int server_start(void) {
        int pipe_fds[2];
        char c;

        if (pipe2(pipe_fds, O_CLOEXEC) < 0)
                return -errno;
        fflush(stdout);
        server_pid = fork();
        if (server_pid < 0)
                return -errno;
        if (server_pid == 0) {
                safe_close(pipe_fds[0]);
                server_child(pipe_fds[1]);
        }
        safe_close(pipe_fds[1]);
        /* Ready once the socket is bound. */
        if (read(pipe_fds[0], &c, 1) != 1) {
                safe_close(pipe_fds[0]);
                return -ESRCH;
        }
        safe_close(pipe_fds[0]);
        return 0;
}

static int server_stop(void) {
        int r, status;

        r = varlink_call(test_socket, "test.Quit", NULL, TIMEOUT_USEC, NULL, NULL);
        if (r != 0)
                (void) kill(server_pid, SIGKILL);
        if (waitpid(server_pid, &status, 0) < 0)
                return -errno;
        server_pid = 0;
        if (r != 0)
                return r < 0 ? r : -EPROTO;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

/* At exit, after a failed assertion: the server must not outlive the test. (In the server, server_pid is
 * 0.) */
static void server_kill(void) {
        if (server_pid > 0) {
                (void) kill(server_pid, SIGKILL);
                (void) waitpid(server_pid, NULL, 0);
        }
}

/* ---- Raw peers ---- */

typedef struct Raw {
        int fd;
        size_t size;
        char buf[128 * 1024];
} Raw;

static void raw_close(Raw **r) {
        if (*r) {
                safe_close((*r)->fd);
                free(*r);
        }
}

/* Our paths are short (mkdtemp() in /tmp); a long one is cut and then not found. */
static struct sockaddr_un sockaddr_of(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        memcpy(sa.sun_path, path, MIN(strlen(path), sizeof(sa.sun_path) - 1));
        return sa;
}

static Raw *raw_connect(void) {
        struct sockaddr_un sa = sockaddr_of(test_socket);
        Raw *r;

        r = calloc(1, sizeof(Raw));
        if (!r)
                return NULL;
        r->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (r->fd < 0 || connect(r->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                raw_close(&r);
                return NULL;
        }
        return r;
}

static bool raw_send(Raw *r, const void *buf, size_t size) {
        while (size > 0) {
                ssize_t n = send(r->fd, buf, size, MSG_NOSIGNAL);

                if (n < 0)
                        return false;
                buf = (const char *) buf + n;
                size -= n;
        }
        return true;
}

static bool raw_send_str(Raw *r, const char *s) {
        return raw_send(r, s, strlen(s) + 1);
}

/* Reads more, waiting at most TIMEOUT_USEC. Returns bytes read, 0 on EOF, -errno. */
static ssize_t raw_fill(Raw *r) {
        struct pollfd p = { .fd = r->fd, .events = POLLIN };
        ssize_t n;

        if (r->size == sizeof(r->buf))
                return -ENOBUFS;
        n = poll(&p, 1, TIMEOUT_USEC / 1000);
        if (n < 0)
                return -errno;
        if (n == 0)
                return -ETIMEDOUT;
        n = recv(r->fd, r->buf + r->size, sizeof(r->buf) - r->size, 0);
        if (n < 0)
                return -errno;
        r->size += n;
        return n;
}

/* The next message, parsed; NULL on EOF, timeout or garbage. */
static json_t *raw_recv(Raw *r) {
        for (;;) {
                char *nul = memchr(r->buf, 0, r->size);

                if (nul) {
                        size_t l = nul - r->buf;
                        json_t *m = json_loadb(r->buf, l, 0, NULL);

                        memmove(r->buf, nul + 1, r->size - l - 1);
                        r->size -= l + 1;
                        return m;
                }
                if (raw_fill(r) <= 0)
                        return NULL;
        }
}

/* Closing a socket with unread input resets it (unix_release_sock() in net/unix/af_unix.c). */
static bool raw_wait_eof(Raw *r) {
        ssize_t n;

        while ((n = raw_fill(r)) > 0)
                ;
        return n == 0 || n == -ECONNRESET;
}

static const char *msg_error(json_t *m) {
        return json_string_value(json_object_get(m, "error"));
}

static json_t *msg_parameter(json_t *m, const char *key) {
        return json_object_get(json_object_get(m, "parameters"), key);
}

static json_int_t server_connections(void) {
        _cleanup_(json_decrefp) json_t *p = NULL;

        if (varlink_call(test_socket, "test.Connections", NULL, TIMEOUT_USEC, &p, NULL) != 0)
                return -1;
        return json_integer_value(json_object_get(p, "n"));
}

/* Opened first and checked last, so the other tests run meanwhile. */
static Raw *idle_peer;
static uint64_t idle_start;

/* The server notices hang-ups asynchronously: wait until it holds n connections besides the idle peer's and
 * our probe's. */
static bool server_connections_settle(json_int_t n) {
        n += 1 + !!idle_peer;
        for (unsigned i = 0; i < 500; i++) {
                if (server_connections() == n)
                        return true;
                usleep(10 * 1000);
        }
        return false;
}

/* ---- Tests against the running server ---- */

static void test_reply(void) {
        _cleanup_(json_decrefp) json_t *in = json_pack("{s:i, s:s}", "a", 1, "b", "zwei"), *out = NULL;
        _cleanup_(freep) char *error = NULL;

        ASSERT_INT(varlink_call(test_socket, "test.Echo", in, TIMEOUT_USEC, &out, &error), 0);
        ASSERT(!error);
        ASSERT(json_equal(in, out));

        out = (json_decref(out), NULL);
        ASSERT_INT(varlink_call(test_socket, "test.Echo", NULL, TIMEOUT_USEC, &out, NULL), 0);
        ASSERT(json_is_object(out) && json_object_size(out) == 0);
}

static void test_error(void) {
        _cleanup_(json_decrefp) json_t *out = NULL;
        _cleanup_(freep) char *error = NULL;

        ASSERT_INT(varlink_call(test_socket, "test.Fail", NULL, TIMEOUT_USEC, &out, &error), 1);
        ASSERT_STREQ(error, "test.Failed");
        ASSERT_STREQ(json_string_value(json_object_get(out, "reason")), "Asked to fail with style");
}

static void test_method_not_found(void) {
        _cleanup_(json_decrefp) json_t *out = NULL;
        _cleanup_(freep) char *error = NULL;

        ASSERT_INT(varlink_call(test_socket, "test.Nope", NULL, TIMEOUT_USEC, &out, &error), 1);
        ASSERT_STREQ(error, VARLINK_ERROR_METHOD_NOT_FOUND);
        ASSERT_STREQ(json_string_value(json_object_get(out, "method")), "test.Nope");
}

static void test_async(void) {
        _cleanup_(json_decrefp) json_t *out = NULL;
        uint64_t start = now_usec();

        ASSERT_INT(varlink_call(test_socket, "test.Later", NULL, TIMEOUT_USEC, &out, NULL), 0);
        ASSERT(json_is_true(json_object_get(out, "late")));
        ASSERT(now_usec() - start >= LATER_USEC);
}

static void test_get_info(void) {
        _cleanup_(json_decrefp) json_t *out = NULL;
        json_t *interfaces;

        ASSERT_INT(varlink_call(test_socket, "org.varlink.service.GetInfo", NULL, TIMEOUT_USEC, &out, NULL), 0);
        ASSERT_STREQ(json_string_value(json_object_get(out, "vendor")), "vpnpolicy");
        ASSERT_STREQ(json_string_value(json_object_get(out, "product")), "vpnpolicyd");
        ASSERT_STREQ(json_string_value(json_object_get(out, "version")), VERSION);
        ASSERT(json_is_string(json_object_get(out, "url")));
        interfaces = json_object_get(out, "interfaces");
        ASSERT_INT(json_array_size(interfaces), 2);
        ASSERT_STREQ(json_string_value(json_array_get(interfaces, 0)), "io.vpnpolicy");
        ASSERT_STREQ(json_string_value(json_array_get(interfaces, 1)), "org.varlink.service");
}

/* Sends one bad request and checks the InvalidParameter reply names the parameter. */
static bool expect_invalid(Raw *r, const char *request, size_t size, const char *parameter) {
        _cleanup_(json_decrefp) json_t *m = NULL;

        if (!raw_send(r, request, size))
                return false;
        m = raw_recv(r);
        return streq_ptr(msg_error(m), VARLINK_ERROR_INVALID_PARAMETER) &&
                streq_ptr(json_string_value(msg_parameter(m, "parameter")), parameter) &&
                json_is_string(msg_parameter(m, "reason"));
}

#define EXPECT_INVALID(r, s, p) expect_invalid((r), (s), sizeof(s), (p))

static void test_malformed(void) {
        _cleanup_(raw_close) Raw *r = raw_connect();
        _cleanup_(json_decrefp) json_t *m = NULL;
        _cleanup_(freep) char *deep = NULL;
        size_t depth = 4000;

        ASSERT(r);
        ASSERT(EXPECT_INVALID(r, "not json", NULL));
        ASSERT(EXPECT_INVALID(r, "", NULL));
        ASSERT(EXPECT_INVALID(r, "\xff\xfe", NULL));
        ASSERT(EXPECT_INVALID(r, "[1, 2]", NULL));
        ASSERT(EXPECT_INVALID(r, "\"method\"", NULL));
        ASSERT(EXPECT_INVALID(r, "{\"parameters\": {}}", "method"));
        ASSERT(EXPECT_INVALID(r, "{\"method\": 42}", "method"));
        ASSERT(EXPECT_INVALID(r, "{\"method\": \"\"}", "method"));
        ASSERT(EXPECT_INVALID(r, "{\"method\": \"test.Echo\", \"parameters\": [1]}", "parameters"));
        ASSERT(EXPECT_INVALID(r, "{\"method\": \"test.Echo\", \"oneway\": 1}", "oneway"));
        ASSERT(EXPECT_INVALID(r, "{\"method\": \"test.Echo\", \"more\": \"yes\"}", "more"));
        ASSERT(EXPECT_INVALID(r, "{\"method\": \"a\", \"method\": \"b\"}", NULL));
        ASSERT(EXPECT_INVALID(r, "{\"method\": \"a\\u0000b\"}", NULL));

        /* Nesting deeper than the parser's limit is an error, not a stack overflow. */
        deep = malloc(depth * 2 + 1);
        ASSERT(deep);
        memset(deep, '[', depth);
        memset(deep + depth, ']', depth);
        deep[depth * 2] = 0;
        ASSERT(expect_invalid(r, deep, depth * 2 + 1, NULL));

        /* The connection is still usable. */
        ASSERT(raw_send_str(r, "{\"method\": \"test.Echo\", \"parameters\": {\"ok\": true}, \"more\": true}"));
        m = raw_recv(r);
        ASSERT(m && !msg_error(m));
        ASSERT(json_is_true(msg_parameter(m, "ok")));
}

static void test_pipelined(void) {
        static const char requests[] = "{\"method\": \"test.Later\"}\0"
                                       "{\"method\": \"test.Echo\", \"parameters\": {\"n\": 2}}\0"
                                       "{\"method\": \"org.varlink.service.GetInfo\"}";
        _cleanup_(raw_close) Raw *r = raw_connect();
        _cleanup_(json_decrefp) json_t *a = NULL, *b = NULL, *c = NULL;

        ASSERT(r);
        ASSERT(raw_send(r, requests, sizeof(requests)));
        a = raw_recv(r);
        b = raw_recv(r);
        c = raw_recv(r);
        /* In order, although the first is answered late. */
        ASSERT(json_is_true(msg_parameter(a, "late")));
        ASSERT_INT(json_integer_value(msg_parameter(b, "n")), 2);
        ASSERT_STREQ(json_string_value(msg_parameter(c, "product")), "vpnpolicyd");
}

static void test_byte_by_byte(void) {
        static const char request[] = "{\"method\": \"test.Echo\", \"parameters\": {\"s\": \"sl\\u00f6w\"}}";
        _cleanup_(raw_close) Raw *r = raw_connect();
        _cleanup_(json_decrefp) json_t *m = NULL;

        ASSERT(r);
        for (size_t i = 0; i < sizeof(request); i++) {
                ASSERT(raw_send(r, request + i, 1));
                if (i % 8 == 0)
                        usleep(1000); /* give the server a chance to see the fragments */
        }
        m = raw_recv(r);
        ASSERT_STREQ(json_string_value(msg_parameter(m, "s")), "sl\xc3\xb6w");
}

static const char padded_head[] = "{\"method\": \"test.Echo\", \"parameters\": {\"s\": \"";
static const char padded_tail[] = "\"}}";
#define PADDED_OVERHEAD (sizeof(padded_head) - 1 + sizeof(padded_tail) - 1 + 1)

/* An Echo request of exactly size bytes, its NUL included. */
static char *request_of_size(size_t size) {
        const char *head = padded_head, *tail = padded_tail;
        size_t pad = size - PADDED_OVERHEAD;
        char *s = malloc(size);

        if (!s)
                return NULL;
        memcpy(s, head, strlen(head));
        memset(s + strlen(head), 'x', pad);
        memcpy(s + strlen(head) + pad, tail, strlen(tail) + 1);
        return s;
}

static void test_request_max(void) {
        _cleanup_(raw_close) Raw *r = raw_connect();
        _cleanup_(freep) char *request = request_of_size(VARLINK_REQUEST_MAX);
        _cleanup_(json_decrefp) json_t *m = NULL;

        ASSERT(r && request);
        ASSERT(raw_send(r, request, VARLINK_REQUEST_MAX));
        m = raw_recv(r);
        ASSERT(m && !msg_error(m));
        ASSERT_INT(json_string_length(msg_parameter(m, "s")), VARLINK_REQUEST_MAX - PADDED_OVERHEAD);
}

static void test_too_large(void) {
        _cleanup_(raw_close) Raw *r = raw_connect();
        _cleanup_(freep) char *request = request_of_size(VARLINK_REQUEST_MAX + 1);
        _cleanup_(json_decrefp) json_t *m = NULL;

        ASSERT(r && request);
        ASSERT(raw_send(r, request, VARLINK_REQUEST_MAX + 1));
        m = raw_recv(r);
        ASSERT_STREQ(msg_error(m), VARLINK_ERROR_REQUEST_TOO_LARGE);
        ASSERT(raw_wait_eof(r));
}

static void test_hangup_pending(void) {
        _cleanup_(json_decrefp) json_t *out = NULL;
        Raw *r = raw_connect();

        ASSERT(r);
        ASSERT(raw_send_str(r, "{\"method\": \"test.Hold\"}"));
        ASSERT(server_connections_settle(1));
        raw_close(&r);
        ASSERT(server_connections_settle(0));

        /* The held call outlived its connection: answering it is dropped quietly. */
        ASSERT_INT(varlink_call(test_socket, "test.Release", NULL, TIMEOUT_USEC, &out, NULL), 0);
        ASSERT_INT(json_integer_value(json_object_get(out, "r")), 0);
        ASSERT(server_connections_settle(0));
}

static void test_half_close(void) {
        _cleanup_(raw_close) Raw *r = raw_connect();
        _cleanup_(json_decrefp) json_t *m = NULL;

        /* What socat does at the end of its input. */
        ASSERT(r);
        ASSERT(raw_send_str(r, "{\"method\": \"test.Later\"}"));
        ASSERT(shutdown(r->fd, SHUT_WR) >= 0);
        m = raw_recv(r);
        ASSERT(json_is_true(msg_parameter(m, "late")));
        ASSERT(raw_wait_eof(r));
}

static void test_oneway(void) {
        static const char requests[] = "{\"method\": \"test.Echo\", \"parameters\": {\"n\": 1}, \"oneway\": true}\0"
                                       "{\"method\": \"test.Later\", \"oneway\": true}\0"
                                       "{\"method\": \"test.Echo\", \"parameters\": {\"n\": 3}}";
        _cleanup_(raw_close) Raw *r = raw_connect();
        _cleanup_(json_decrefp) json_t *m = NULL;

        ASSERT(r);
        ASSERT(raw_send(r, requests, sizeof(requests)));
        m = raw_recv(r);
        ASSERT_INT(json_integer_value(msg_parameter(m, "n")), 3);
        ASSERT_INT(r->size, 0);
}

static void test_client_timeout(void) {
        uint64_t start = now_usec();

        ASSERT_INT(varlink_call(test_socket, "test.Never", NULL, 200 * 1000, NULL, NULL), -ETIMEDOUT);
        ASSERT(now_usec() - start >= 200 * 1000);
        ASSERT(now_usec() - start < 2 * 1000 * 1000);
}

static void test_peer(void) {
        _cleanup_(json_decrefp) json_t *out = NULL;

        ASSERT_INT(varlink_call(test_socket, "test.Peer", NULL, TIMEOUT_USEC, &out, NULL), 0);
        ASSERT_INT(json_integer_value(json_object_get(out, "uid")), getuid());
        ASSERT_INT(json_integer_value(json_object_get(out, "gid")), getgid());
        ASSERT_INT(json_integer_value(json_object_get(out, "pid")), getpid());
}

/* Fills the server up to VARLINK_CONNECTIONS_MAX with n peers; the next connection is closed at once. */
/* As uid 65534: the per-user cap holds, the connection over it is closed at once. Runs in a child so the
 * test keeps its root credentials; exit status 0 means the cap held. */
static int connections_over_cap_as_nobody(void) {
        _cleanup_(freep) Raw **peers = calloc(VARLINK_CONNECTIONS_PER_UID_MAX, sizeof(Raw *));
        _cleanup_(raw_close) Raw *last = NULL;
        unsigned n = 0;
        bool ok;

        if (!peers)
                return 3;

        if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
                return 2;
        while (n < VARLINK_CONNECTIONS_PER_UID_MAX && (peers[n] = raw_connect()))
                n++;
        /* No settle probe here: it would be one more connection of ours. The server accepts in order, so
         * the one over the cap comes after the others are counted. */
        ok = n == VARLINK_CONNECTIONS_PER_UID_MAX && (last = raw_connect()) && raw_wait_eof(last);
        while (n > 0)
                raw_close(&peers[--n]);
        return ok ? 0 : 1;
}

static void test_connections_max(void) {
        unsigned extra = VARLINK_CONNECTIONS_PER_UID_MAX + 8, n = 0;
        struct rlimit rl;
        Raw **peers = calloc(extra, sizeof(Raw *));
        int status;
        pid_t pid;

        ASSERT(peers);
        /* Our end and the server's of every connection, plus slack. */
        ASSERT(getrlimit(RLIMIT_NOFILE, &rl) >= 0);
        if (rl.rlim_cur < 2 * extra + 64) {
                rl.rlim_cur = MIN(rl.rlim_max, (rlim_t) 2 * extra + 64);
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
        if (rl.rlim_cur < 2 * extra + 64) {
                printf("%s: skipped, RLIMIT_NOFILE too low\n", __func__);
                free(peers);
                return;
        }
        /* Root (the hook, the admin) is never refused for lack of room: more than a user's cap is held. */
        while (n < extra && (peers[n] = raw_connect()))
                n++;
        ASSERT(n == extra);
        ASSERT(server_connections_settle(n));
        while (n > 0)
                raw_close(&peers[--n]);
        free(peers);
        ASSERT(server_connections_settle(0));

        /* Everyone else is capped per user, so that no user can crowd out the others. */
        ASSERT(chmod(test_dir, 0755) >= 0);
        pid = fork();
        ASSERT(pid >= 0);
        if (pid == 0)
                _exit(connections_over_cap_as_nobody());
        ASSERT(waitpid(pid, &status, 0) == pid);
        ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        ASSERT(server_connections_settle(0));
}

static void test_idle_timeout_begin(void) {
        idle_peer = raw_connect();
        ASSERT(idle_peer);
        idle_start = now_usec();
        ASSERT(raw_send(idle_peer, "{\"meth", 6));
}

/* Trickling more bytes must not extend the deadline. */
static void test_idle_timeout_trickle(void) {
        ASSERT(idle_peer);
        ASSERT(raw_send(idle_peer, "od\": ", 5));
}

static void test_idle_timeout_end(void) {
        uint64_t elapsed;

        ASSERT(idle_peer);
        while (now_usec() - idle_start < VARLINK_IDLE_TIMEOUT_USEC + 3U * 1000000U) {
                struct pollfd p = { .fd = idle_peer->fd, .events = POLLIN };

                if (poll(&p, 1, 100) > 0)
                        break;
        }
        elapsed = now_usec() - idle_start;
        ASSERT(raw_wait_eof(idle_peer));
        ASSERT(elapsed >= VARLINK_IDLE_TIMEOUT_USEC - 100U * 1000U);
        ASSERT(elapsed < VARLINK_IDLE_TIMEOUT_USEC + 3U * 1000000U);
        raw_close(&idle_peer);
}

/* ---- Tests without the running server ---- */

static int socket_stale(const char *path) {
        struct sockaddr_un sa = sockaddr_of(path);
        _cleanup_(closep) int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        return 0;
}

static int socket_live(const char *path) {
        struct sockaddr_un sa = sockaddr_of(path);
        _cleanup_(closep) int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 1) < 0)
                return -errno;
        return TAKE_FD(fd);
}

static void test_no_socket(void) {
        char path[PATH_MAX];

        snprintf(path, sizeof(path), "%s/absent", test_dir);
        ASSERT_INT(varlink_call(path, "test.Echo", NULL, TIMEOUT_USEC, NULL, NULL), -ENOENT);

        snprintf(path, sizeof(path), "%s/stale", test_dir);
        ASSERT_INT(socket_stale(path), 0);
        ASSERT_INT(varlink_call(path, "test.Echo", NULL, TIMEOUT_USEC, NULL, NULL), -ECONNREFUSED);
        ASSERT(unlink(path) >= 0);
}

static void test_bind(void) {
        _cleanup_(varlink_server_freep) VarlinkServer *s = NULL;
        _cleanup_(closep) int live = -EBADF;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        char path[PATH_MAX];
        struct stat st;

        ASSERT_INT(sd_event_new(&e), 0);
        snprintf(path, sizeof(path), "%s/bind", test_dir);

        /* A stale socket file is replaced; the socket is world-writable whatever the umask. */
        ASSERT_INT(socket_stale(path), 0);
        ASSERT_INT(varlink_server_new(e, path, -EBADF, test_method, NULL, &s), 0);
        ASSERT(stat(path, &st) >= 0);
        ASSERT(S_ISSOCK(st.st_mode));
        ASSERT_INT(st.st_mode & 07777, 0666);
        ASSERT_INT(varlink_server_connections(s), 0);
        s = varlink_server_free(s);
        ASSERT(!varlink_server_free(NULL));
        ASSERT(unlink(path) >= 0);

        /* Another process still listening keeps its socket. */
        live = socket_live(path);
        ASSERT(live >= 0);
        ASSERT_INT(varlink_server_new(e, path, -EBADF, test_method, NULL, &s), -EADDRINUSE);
        live = safe_close(live);
        ASSERT(unlink(path) >= 0);

        /* Anything but a socket is never removed. */
        live = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        ASSERT(live >= 0);
        ASSERT_INT(varlink_server_new(e, path, -EBADF, test_method, NULL, &s), -EEXIST);
        ASSERT(unlink(path) >= 0);
        ASSERT(!s);
}

static void test_adopt_fd(void) {
        _cleanup_(varlink_server_freep) VarlinkServer *s = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(closep) int fd = -EBADF;
        int pair[2];
        char path[PATH_MAX];

        ASSERT_INT(sd_event_new(&e), 0);

        /* A connected socket, as a socket unit with Accept=yes would pass, is refused and stays the
         * caller's. */
        ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) >= 0);
        ASSERT_INT(varlink_server_new(e, NULL, pair[0], test_method, NULL, &s), -EINVAL);
        ASSERT(fcntl(pair[0], F_GETFD) >= 0);
        safe_close(pair[0]);
        safe_close(pair[1]);

        /* A listening socket becomes the server's, made CLOEXEC and non-blocking. */
        snprintf(path, sizeof(path), "%s/adopt", test_dir);
        fd = socket_live(path);
        ASSERT(fd >= 0);
        ASSERT(fcntl(fd, F_SETFD, 0) >= 0);
        ASSERT_INT(varlink_server_new(e, NULL, fd, test_method, NULL, &s), 0);
        ASSERT(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        ASSERT(fcntl(fd, F_GETFL) & O_NONBLOCK);
        s = varlink_server_free(s);
        ASSERT(fcntl(TAKE_FD(fd), F_GETFD) < 0 && errno == EBADF);
        ASSERT(unlink(path) >= 0);
}

static void test_request_parse(void) {
        _cleanup_(varlink_request_done) VarlinkRequest a = {}, b = {}, c = {};
        static const char good[] = "{\"method\": \"io.vpnpolicy.X\", \"oneway\": true, \"extra\": 1}";
        static const char bad[] = "{\"method\": \"io.vpnpolicy.X\", \"parameters\": null}";

        ASSERT_INT(varlink_request_parse(good, sizeof(good) - 1, &a), 0);
        ASSERT(!a.invalid);
        ASSERT_STREQ(a.method, "io.vpnpolicy.X");
        ASSERT(json_is_object(a.parameters) && json_object_size(a.parameters) == 0);
        ASSERT(a.oneway && !a.more);

        ASSERT_INT(varlink_request_parse(bad, sizeof(bad) - 1, &b), 0);
        ASSERT(!b.json && !b.method && b.invalid);
        ASSERT_STREQ(json_string_value(json_object_get(b.invalid, "parameter")), "parameters");

        ASSERT_INT(varlink_request_parse(NULL, 0, &c), 0);
        ASSERT(c.invalid);
        varlink_request_done(NULL);
}

/* ---- Main ---- */

int main(void) {
        int r;

        test_dir = tests_tmpdir();
        snprintf(test_socket, sizeof(test_socket), "%s/io.vpnpolicy.test", test_dir);
        ASSERT(atexit(server_kill) == 0);

        RUN(test_request_parse);
        RUN(test_bind);
        RUN(test_adopt_fd);
        RUN(test_no_socket);

        r = server_start();
        if (r < 0) {
                fprintf(stderr, "Failed to start the server: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }

        RUN(test_idle_timeout_begin);
        RUN(test_reply);
        RUN(test_idle_timeout_trickle);
        RUN(test_error);
        RUN(test_method_not_found);
        RUN(test_async);
        RUN(test_get_info);
        RUN(test_malformed);
        RUN(test_pipelined);
        RUN(test_byte_by_byte);
        RUN(test_request_max);
        RUN(test_too_large);
        RUN(test_hangup_pending);
        RUN(test_half_close);
        RUN(test_oneway);
        RUN(test_client_timeout);
        RUN(test_peer);
        RUN(test_connections_max);
        RUN(test_idle_timeout_end);

        r = server_stop();
        if (r < 0)
                fprintf(stderr, "The server failed or did not stop cleanly: %s\n", strerror(-r));
        ASSERT(r == 0);
        TESTS_DONE();
}
