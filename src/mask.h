/* XOR (un)masking, RFC 6455 section 5.3.  PLACEHOLDER scalar version: the SIMD kernels replace it. */
#ifndef WSFRAME_MASK_H
#define WSFRAME_MASK_H
#include <Python.h>
#include <string.h>
#include <stdint.h>
#include "cpu.h"

static void wsf_mask(unsigned char *dst, const unsigned char *src, Py_ssize_t n,
                     const unsigned char key[4], int phase) {
    for (Py_ssize_t i = 0; i < n; i++) dst[i] = src[i] ^ key[(phase + i) & 3];
}

static void wsf_mask_init(void) {}
#endif
