/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* placeholder until the core lands */
int main(void);
int main(void) {
        return 1;
}
