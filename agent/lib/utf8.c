/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "utf8.h"

int utf8_decode(const char *s, size_t n, uint32_t *ret) {
        const uint8_t *p = (const uint8_t *) s;
        uint32_t cp, min;
        size_t len;

        if (n == 0)
                return -EILSEQ;
        if (p[0] < 0x80) {
                *ret = p[0];
                return 1;
        }
        if ((p[0] & 0xe0) == 0xc0)
                len = 2, cp = p[0] & 0x1f, min = 0x80;
        else if ((p[0] & 0xf0) == 0xe0)
                len = 3, cp = p[0] & 0x0f, min = 0x800;
        else if ((p[0] & 0xf8) == 0xf0)
                len = 4, cp = p[0] & 0x07, min = 0x10000;
        else
                return -EILSEQ;         /* a continuation byte, or 0xf8-0xff */
        if (n < len)
                return -EILSEQ;
        for (size_t i = 1; i < len; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return -EILSEQ;
                cp = cp << 6 | (p[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return -EILSEQ;
        *ret = cp;
        return (int) len;
}

size_t utf8_encode(uint32_t cp, char buf[static 4]) {
        if (cp < 0x80) {
                buf[0] = (char) cp;
                return 1;
        }
        if (cp < 0x800) {
                buf[0] = (char) (0xc0 | cp >> 6);
                buf[1] = (char) (0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp < 0x10000) {
                buf[0] = (char) (0xe0 | cp >> 12);
                buf[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
                buf[2] = (char) (0x80 | (cp & 0x3f));
                return 3;
        }
        buf[0] = (char) (0xf0 | cp >> 18);
        buf[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
        buf[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
        buf[3] = (char) (0x80 | (cp & 0x3f));
        return 4;
}
