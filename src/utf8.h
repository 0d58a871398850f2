/* Incremental UTF-8 validation.  PLACEHOLDER scalar version: the SIMD validator replaces it. */
#ifndef WSFRAME_UTF8_H
#define WSFRAME_UTF8_H
#include <Python.h>
#include <stdint.h>
#include "cpu.h"

typedef struct {
    uint32_t need;      /* continuation bytes still expected */
    uint8_t lo, hi;     /* allowed range of the next continuation byte */
} wsf_utf8_state;

static Py_ssize_t wsf_utf8_feed(wsf_utf8_state *st, const unsigned char *p, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (st->need) {
            if (c < st->lo || c > st->hi) return i;
            st->need--; st->lo = 0x80; st->hi = 0xBF;
            continue;
        }
        if (c < 0x80) continue;
        st->lo = 0x80; st->hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) st->need = 1;
        else if (c >= 0xE0 && c <= 0xEF) { st->need = 2; if (c == 0xE0) st->lo = 0xA0; if (c == 0xED) st->hi = 0x9F; }
        else if (c >= 0xF0 && c <= 0xF4) { st->need = 3; if (c == 0xF0) st->lo = 0x90; if (c == 0xF4) st->hi = 0x8F; }
        else return i;
    }
    return -1;
}

static int wsf_utf8_complete(const wsf_utf8_state *st) { return st->need == 0; }

static void wsf_utf8_init(void) {}
#endif
