/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The parser of what OpenVPN passes to its up hook, used by the hook and the agent alike; the hook's
 * JSON writer (its request) and its scanner of the agent's reply, both libc only. */

#include <jansson.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "hook-json.h"
#include "hook.h"
#include "json-scan.h"
#include "json-writer.h"
#include "macro.h"
#include "tests.h"
#include "varlink-client.h"
#include "varlink.h"

/* The environment as a NULL-terminated list of "name=value". */
static const char *list_lookup(const char *name, void *userdata) {
        size_t len = strlen(name);

        for (const char *const *e = userdata; *e; e++)
                if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
                        return *e + len + 1;
        return NULL;
}

static int parse(const char *const *env, HookRequest *ret, char error[static HOOK_ERROR_MAX]) {
        return hook_request_parse(list_lookup, (void *) (uintptr_t) env, ret, error);
}

#define ENV(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void test_subnet(void) {
        char error[HOOK_ERROR_MAX], s[PREFIX_STRLEN];
        HookRequest h;
        Prefix p[2];

        ASSERT(parse(ENV("dev=tun0", "dev_type=tun", "ifconfig_local=10.10.10.1", "ifconfig_netmask=255.255.255.0",
                         "ifconfig_ipv6_local=fd00:4242:4242:4242::1", "ifconfig_ipv6_netbits=64",
                         "config=/etc/openvpn/server/udp.conf", "daemon_pid=4242", "script_type=up"),
                     &h, error) == 0);
        ASSERT(streq(h.dev, "tun0") && h.daemon_pid == 4242 && h.prefixlen4 == 24 && h.prefixlen6 == 64);
        ASSERT(hook_request_subnets(&h, p) == 2);
        ASSERT(streq(prefix_to_string(&p[0], s), "10.10.10.0/24"));
        ASSERT(streq(prefix_to_string(&p[1], s), "fd00:4242:4242:4242::/64"));
}

static void test_net30(void) {
        char error[HOOK_ERROR_MAX], s[PREFIX_STRLEN];
        HookRequest h;
        Prefix p[2];

        ASSERT(parse(ENV("dev=tun1", "ifconfig_local=10.8.0.1", "ifconfig_remote=10.8.0.2"), &h, error) == 0);
        ASSERT(hook_request_subnets(&h, p) == 1);
        ASSERT(streq(prefix_to_string(&p[0], s), "10.8.0.2/32"));
}

/* The parameters object the hook sends, as text. */
static char *params_text(const HookRequest *h) {
        JsonWriter w = {};
        size_t size;
        char *text;

        json_writer_object_begin(&w);
        hook_request_write(h, &w);
        json_writer_object_end(&w);
        ASSERT(json_writer_finish(&w, &text, &size) == 0);
        ASSERT(strlen(text) == size);
        return text;
}

/* What the agent receives is what the hook sent: written by the hook's writer, read by jansson and
 * parsed again, with OpenVPN's odd but printable characters in the config path. */
static void test_json_round_trip(void) {
        static const char *const configs[] = {
                "/x y/z.conf", "/etc/openvpn/a \"b\"\\c.conf", "/srv/$(reboot)`id`;'x'/{a,b}.conf",
                "/etc/openvpn/~!@#%^&*()_+=[]|<>?,.conf", "\\\\server\\share\\x.ovpn", "/",
        };
        char error[HOOK_ERROR_MAX], env_config[4200];

        for (size_t i = 0; i < ELEMENTSOF(configs); i++) {
                _cleanup_(freep) char *text = NULL;
                HookRequest h, back;
                json_error_t e;
                json_t *j;

                snprintf(env_config, sizeof(env_config), "config=%s", configs[i]);
                ASSERT(parse(ENV("dev=tun0", "ifconfig_local=10.10.10.1", "ifconfig_netmask=255.255.255.0",
                                 "ifconfig_ipv6_local=fd00::1", "ifconfig_ipv6_netbits=64", env_config,
                                 "daemon_pid=1", "script_type=up", "dev_type=tun"), &h, error) == 0);
                ASSERT_STREQ(h.config, configs[i]);
                text = params_text(&h);
                j = json_loads(text, JSON_REJECT_DUPLICATES, &e);
                ASSERT(j);
                ASSERT_STREQ(json_string_value(json_object_get(j, "config")), configs[i]);
                ASSERT(hook_request_parse(hook_json_lookup, j, &back, error) == 0);
                ASSERT(memcmp(&h, &back, sizeof(h)) == 0);
                json_decref(j);
        }
}

/* The whole request, byte for byte, and the agent's own request parser reading it. */
static void test_request_wire(void) {
        _cleanup_(freep) char *text = NULL;
        _cleanup_(varlink_request_done) VarlinkRequest req = {};
        char error[HOOK_ERROR_MAX];
        HookRequest h, back;
        JsonWriter w = {};
        size_t size;

        ASSERT(parse(ENV("dev=tun1", "ifconfig_local=10.8.0.1", "ifconfig_remote=10.8.0.2",
                         "config=/etc/openvpn/server/a\"b.conf", "daemon_pid=77", "script_type=up"), &h, error) == 0);
        json_writer_object_begin(&w);
        json_writer_member_string(&w, "method", "io.vpnpolicy.RegisterTunnel");
        json_writer_key(&w, "parameters");
        json_writer_object_begin(&w);
        hook_request_write(&h, &w);
        json_writer_member_uint(&w, "timeout_usec", 1800000);
        json_writer_object_end(&w);
        json_writer_object_end(&w);
        ASSERT(json_writer_finish(&w, &text, &size) == 0);
        ASSERT_STREQ(text, "{\"method\":\"io.vpnpolicy.RegisterTunnel\",\"parameters\":{\"dev\":\"tun1\","
                           "\"ifconfig_local\":\"10.8.0.1\",\"ifconfig_netmask\":\"255.255.255.255\","
                           "\"ifconfig_remote\":\"10.8.0.2\",\"config\":\"/etc/openvpn/server/a\\\"b.conf\","
                           "\"daemon_pid\":\"77\",\"script_type\":\"up\",\"timeout_usec\":1800000}}");
        ASSERT(varlink_request_parse(text, size, &req) == 0);
        ASSERT(!req.invalid && streq(req.method, "io.vpnpolicy.RegisterTunnel"));
        ASSERT(json_integer_value(json_object_get(req.parameters, "timeout_usec")) == 1800000);
        ASSERT(hook_request_parse(hook_json_lookup, req.parameters, &back, error) == 0);
        ASSERT(memcmp(&h, &back, sizeof(h)) == 0);
}

/* One string value through the writer: the text, or the failure. */
static int write_string(const char *s, char **ret) {
        JsonWriter w = {};
        size_t size;

        json_writer_object_begin(&w);
        json_writer_member_string(&w, "k", s);
        json_writer_object_end(&w);
        return json_writer_finish(&w, ret, &size);
}

static void test_writer_escaping(void) {
        static const struct {
                const char *in, *out;
        } cases[] = {
                { "plain", "{\"k\":\"plain\"}" },
                { "", "{\"k\":\"\"}" },
                { "a\"b\\c/d", "{\"k\":\"a\\\"b\\\\c/d\"}" },
                { "\b\f\n\r\t", "{\"k\":\"\\b\\f\\n\\r\\t\"}" },
                { "\x01\x1b[31m\x1f\x7f", "{\"k\":\"\\u0001\\u001b[31m\\u001f\\u007f\"}" },
                { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "{\"k\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}" },
                { "\xe2\x80\xa8", "{\"k\":\"\xe2\x80\xa8\"}" },      /* U+2028 is fine in JSON */
        };
        static const char *const bad[] = {
                "\xff", "a\x80", "\xc0\xaf", "\xc3", "\xe2\x82", "\xed\xa0\x80" /* a surrogate */,
                "\xf4\x90\x80\x80" /* above U+10FFFF */, "\xe0\x80\xaf" /* overlong */, "ok\xfe",
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(freep) char *text = NULL;
                json_t *j;

                ASSERT(write_string(cases[i].in, &text) == 0);
                ASSERT_STREQ(text, cases[i].out);
                /* and a strict reader gets the string back */
                j = json_loads(text, 0, NULL);
                ASSERT(j);
                ASSERT_STREQ(json_string_value(json_object_get(j, "k")), cases[i].in);
                json_decref(j);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char *text = NULL;

                ASSERT_INT(write_string(bad[i], &text), -EILSEQ);
                ASSERT(!text);
        }
}

static void test_writer_structure(void) {
        JsonWriter w = {};
        char *text = NULL;
        size_t size;

        /* A value without a key, a key outside an object, two top-level values, an open object, a key
         * without its value: each refused, never written. */
        json_writer_object_begin(&w);
        json_writer_string(&w, "v");
        ASSERT(json_writer_finish(&w, &text, &size) == -EINVAL && !text);
        json_writer_key(&w, "k");
        ASSERT(json_writer_finish(&w, &text, &size) == -EINVAL);
        json_writer_object_begin(&w);
        json_writer_object_end(&w);
        json_writer_object_begin(&w);
        ASSERT(json_writer_finish(&w, &text, &size) == -EINVAL);
        json_writer_object_begin(&w);
        ASSERT(json_writer_finish(&w, &text, &size) == -EINVAL);
        json_writer_object_begin(&w);
        json_writer_key(&w, "k");
        json_writer_object_end(&w);
        ASSERT(json_writer_finish(&w, &text, &size) == -EINVAL);
        json_writer_object_end(&w);
        ASSERT(json_writer_finish(&w, &text, &size) == -EINVAL);
        /* The first failure sticks: an invalid string, then good calls. */
        json_writer_object_begin(&w);
        json_writer_member_string(&w, "a", "\xff");
        json_writer_member_string(&w, "b", "fine");
        json_writer_object_end(&w);
        ASSERT(json_writer_finish(&w, &text, &size) == -EILSEQ);
        for (unsigned i = 0; i <= JSON_WRITER_DEPTH_MAX; i++) {
                if (i > 0)
                        json_writer_key(&w, "k");
                json_writer_object_begin(&w);
        }
        ASSERT(json_writer_finish(&w, &text, &size) == -EINVAL);

        json_writer_object_begin(&w);
        json_writer_member_uint(&w, "max", UINT64_MAX);
        json_writer_member_uint(&w, "zero", 0);
        json_writer_key(&w, "o");
        json_writer_object_begin(&w);
        json_writer_object_end(&w);
        json_writer_object_end(&w);
        ASSERT(json_writer_finish(&w, &text, &size) == 0);
        ASSERT_STREQ(text, "{\"max\":18446744073709551615,\"zero\":0,\"o\":{}}");
        ASSERT(size == strlen(text));
        free(text);
}

typedef struct ReplyCase {
        const char *text;
        int r;
        const char *error, *reason;
} ReplyCase;

static void check_reply(const char *text, size_t size, int expect, const char *error, const char *reason) {
        char e[VARLINK_REPLY_TEXT_MAX], why[VARLINK_REPLY_TEXT_MAX];
        int r = varlink_client_reply_scan(text, size, e, why);

        if (r != expect)
                fprintf(stderr, "reply %.*s: %d, expected %d\n", (int) MIN(size, (size_t) 99), text, r, expect);
        ASSERT_INT(r, expect);
        if (r < 0)
                return;
        ASSERT_STREQ(e, r == 1 ? error : "");
        ASSERT_STREQ(why, reason ?: "");
}

static void test_reply_scan(void) {
        static const ReplyCase cases[] = {
                { "{\"parameters\":{\"dev\":\"tun0\",\"routes\":[\"10.10.10.0/24\",\"fd00::/64\"]}}", 0 },
                { "{}", 0 },
                { " \t\r\n{ \"parameters\" : { } } \n", 0 },
                { "{\"error\":\"io.vpnpolicy.Timeout\",\"parameters\":{\"reason\":\"device tunx did not appear\"}}", 1,
                  "io.vpnpolicy.Timeout", "device tunx did not appear" },
                { "{\"parameters\":{\"reason\":\"r\"},\"error\":\"e\"}", 1, "e", "r" },
                { "{\"error\":\"org.varlink.service.InvalidParameter\"}", 1, "org.varlink.service.InvalidParameter" },
                { "{\"error\":\"\"}", 1, "" },                     /* still an error */
                { "{\"error\":\"x\",\"parameters\":{\"reason\":5}}", 1, "x" },
                { "{\"error\":\"x\",\"parameters\":{\"reason\":\"a\\\"b\\\\c\\/d\\n\\u00e9\\ud83d\\ude00\"}}", 1, "x",
                  "a\"b\\c/d\n\xc3\xa9\xf0\x9f\x98\x80" },
                { "{\"\\u0065rror\":\"escaped key\"}", 1, "escaped key" },
                { "{\"parameters\":{\"error\":\"not top-level\"}}", 0 },
                { "{\"parameters\":{\"x\":{\"reason\":\"deep\"}},\"error\":\"e\"}", 1, "e" },
                { "{\"error\":\"e\",\"continues\":true,\"a\":[1,-2.5e+3,0.0,true,false,null,{},[]]}", 1, "e" },
                { "{\"errors\":\"not it\",\"error \":\"nor this\"}", 0 },
                { "{\"x\":\"\\u0000 where it is not read is fine\"}", 0 },
                /* not one JSON object */
                { "", -EBADMSG }, { "   ", -EBADMSG }, { "null", -EBADMSG }, { "[]", -EBADMSG },
                { "\"error\"", -EBADMSG }, { "{}{}", -EBADMSG }, { "{} x", -EBADMSG }, { "{", -EBADMSG },
                { "{\"a\":1", -EBADMSG }, { "{\"a\":1,}", -EBADMSG }, { "{,}", -EBADMSG },
                { "{\"a\" 1}", -EBADMSG }, { "{\"a\":}", -EBADMSG }, { "{a:1}", -EBADMSG },
                { "{'a':1}", -EBADMSG }, { "{\"a\":[1,]}", -EBADMSG }, { "{\"a\":[1 2]}", -EBADMSG },
                { "\v{}", -EBADMSG }, { "{}\f", -EBADMSG },
                /* numbers and literals by the grammar */
                { "{\"a\":01}", -EBADMSG }, { "{\"a\":1.}", -EBADMSG }, { "{\"a\":.5}", -EBADMSG },
                { "{\"a\":-}", -EBADMSG }, { "{\"a\":1e}", -EBADMSG }, { "{\"a\":+1}", -EBADMSG },
                { "{\"a\":0x10}", -EBADMSG }, { "{\"a\":tru}", -EBADMSG }, { "{\"a\":True}", -EBADMSG },
                { "{\"a\":nul}", -EBADMSG }, { "{\"a\":NaN}", -EBADMSG }, { "{\"a\":truex}", -EBADMSG },
                /* strings */
                { "{\"a\":\"\x01\"}", -EBADMSG }, { "{\"a\":\"\n\"}", -EBADMSG }, { "{\"a\":\"\\q\"}", -EBADMSG },
                { "{\"a\":\"\\u12\"}", -EBADMSG }, { "{\"a\":\"\\u12g4\"}", -EBADMSG },
                { "{\"a\":\"\\ud800\"}", -EBADMSG }, { "{\"a\":\"\\udc00\"}", -EBADMSG },
                { "{\"a\":\"\\ud800\\u0041\"}", -EBADMSG }, { "{\"a\":\"\xff\"}", -EBADMSG },
                { "{\"a\":\"\xc0\xaf\"}", -EBADMSG }, { "{\"a\":\"\xed\xa0\x80\"}", -EBADMSG },
                { "{\"a\":\"", -EBADMSG }, { "{\"a\":\"\\", -EBADMSG }, { "{\"\xff\":1}", -EBADMSG },
                /* what the hook reads, of the wrong kind or twice */
                { "{\"error\":1}", -EBADMSG }, { "{\"error\":null}", -EBADMSG }, { "{\"error\":[\"x\"]}", -EBADMSG },
                { "{\"error\":{}}", -EBADMSG }, { "{\"parameters\":[]}", -EBADMSG },
                { "{\"parameters\":\"x\"}", -EBADMSG }, { "{\"parameters\":null}", -EBADMSG },
                { "{\"error\":\"a\",\"error\":\"b\"}", -EBADMSG },
                { "{\"error\":\"a\",\"\\u0065rror\":\"b\"}", -EBADMSG },
                { "{\"parameters\":{},\"parameters\":{\"reason\":\"x\"}}", -EBADMSG },
                { "{\"error\":\"e\",\"parameters\":{\"reason\":\"a\",\"reason\":\"b\"}}", -EBADMSG },
                { "{\"error\":\"x\\u0000y\"}", -EBADMSG },       /* a NUL would cut what we show */
                { "{\"error\":\"e\",\"parameters\":{\"reason\":\"cut\\u0000here\"}}", -EBADMSG },
        };
        char deep[2 * (JSON_SCAN_DEPTH_MAX + 2) + 16], text[1024];
        size_t n = 0;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                check_reply(cases[i].text, strlen(cases[i].text), cases[i].r, cases[i].error, cases[i].reason);

        /* Nesting: JSON_SCAN_DEPTH_MAX levels are read (the object and arrays in it), one more is not. */
        for (unsigned k = JSON_SCAN_DEPTH_MAX - 1; k <= JSON_SCAN_DEPTH_MAX; k++) {
                n = (size_t) snprintf(deep, sizeof(deep), "{\"a\":");
                for (unsigned d = 0; d < k; d++)
                        deep[n++] = '[';
                for (unsigned d = 0; d < k; d++)
                        deep[n++] = ']';
                deep[n++] = '}';
                check_reply(deep, n, k < JSON_SCAN_DEPTH_MAX ? 0 : -EBADMSG, NULL, NULL);
        }

        /* The size given counts, not a NUL: a reply cut short is refused. */
        check_reply("{\"error\":\"e\"}", 10, -EBADMSG, NULL, NULL);
        check_reply("{}\0garbage", 2, 0, NULL, NULL);
        check_reply("{}\0garbage", 3, -EBADMSG, NULL, NULL);

        /* A long reason is cut at a character boundary, and stays UTF-8. */
        n = (size_t) snprintf(text, sizeof(text), "{\"error\":\"e\",\"parameters\":{\"reason\":\"");
        for (unsigned i = 0; i < 200; i++)
                n += (size_t) snprintf(text + n, sizeof(text) - n, "\xc3\xa9");
        n += (size_t) snprintf(text + n, sizeof(text) - n, "\"}}");
        {
                char e[VARLINK_REPLY_TEXT_MAX], why[VARLINK_REPLY_TEXT_MAX];

                ASSERT_INT(varlink_client_reply_scan(text, n, e, why), 1);
                ASSERT_INT(strlen(why), VARLINK_REPLY_TEXT_MAX - 2);    /* 127 whole "é" */
                ASSERT(json_loads(why, JSON_DECODE_ANY, NULL) == NULL); /* not JSON, but: */
                ASSERT((unsigned char) why[strlen(why) - 1] == 0xa9);
        }
}

static void test_hostile(void) {
        const char *const *bad[] = {
                ENV("dev=tun0;reboot"),
                ENV("dev=$(reboot)"),
                ENV("dev=tun 0"),
                ENV("dev=tun0\nx"),
                ENV("dev=tun0123456789abc"),            /* 16 characters */
                ENV("dev="),
                ENV("dev=.."),
                ENV("dev=../etc"),
                ENV("dev_type=tun"),                    /* no dev */
                ENV("dev=tun0", "ifconfig_local=10.10.10.1", "ifconfig_netmask=255.0.255.0"),
                ENV("dev=tun0", "ifconfig_local=10.10.10.300"),
                ENV("dev=tun0", "ifconfig_local=10.10.10.1 ", "ifconfig_netmask=255.255.255.0"),
                ENV("dev=tun0", "ifconfig_netmask=255.255.255.0"),
                ENV("dev=tun0", "ifconfig_ipv6_local=fd00::1", "ifconfig_ipv6_netbits=129"),
                ENV("dev=tun0", "ifconfig_ipv6_local=fd00::1"),
                ENV("dev=tun0", "ifconfig_ipv6_local=fd00::1%eth0", "ifconfig_ipv6_netbits=64"),
                ENV("dev=tun0", "ifconfig_ipv6_local=10.0.0.1", "ifconfig_ipv6_netbits=64"),
                ENV("dev=tun0", "daemon_pid=-1"),
                ENV("dev=tun0", "daemon_pid=0x10"),
                ENV("dev=tun0", "script_type=down"),
                ENV("dev=tun0", "config=/etc/x\x1b[31m"),
                ENV("dev=tun0", "dev_type=ether"),
        };
        char error[HOOK_ERROR_MAX];
        HookRequest h;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                ASSERT(parse(bad[i], &h, error) == -EINVAL);
                ASSERT(error[0] != 0);
        }
}

static void test_json_types(void) {
        char error[HOOK_ERROR_MAX];
        HookRequest h;
        json_t *j = json_pack("{s:s, s:i}", "dev", "tun0", "daemon_pid", 5);

        ASSERT(hook_request_parse(hook_json_lookup, j, &h, error) == -EINVAL);   /* a number, not a string */
        json_decref(j);
        j = json_pack("{s:[s]}", "dev", "tun0");
        ASSERT(hook_request_parse(hook_json_lookup, j, &h, error) == -EINVAL);
        json_decref(j);
}

int main(void) {
        RUN(test_subnet);
        RUN(test_net30);
        RUN(test_json_round_trip);
        RUN(test_request_wire);
        RUN(test_writer_escaping);
        RUN(test_writer_structure);
        RUN(test_reply_scan);
        RUN(test_hostile);
        RUN(test_json_types);
        TESTS_DONE();
}
