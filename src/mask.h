/* XOR (un)masking, RFC 6455 section 5.3: dst[i] = src[i] ^ key[(phase + i) % 4].
 *
 * Every kernel takes the key already rotated by phase, as the 4 bytes of `pattern` in memory order,
 * so the kernels only ever start at key byte 0. dst may equal src (in place); any alignment; no
 * access outside [0, n), prefetches included.
 * The kernel is chosen once by wsf_mask_init() from the CPU's features. */
#ifndef WSFRAME_MASK_H
#define WSFRAME_MASK_H
#include <Python.h>
#include <string.h>
#include <stdint.h>
#include "cpu.h"

typedef void (*wsf_mask_kernel_fn)(unsigned char *dst, const unsigned char *src, Py_ssize_t n,
                                   uint32_t pattern);

/* Bytes [done, n) of the scalar tail; done is a multiple of 4, so the key restarts at byte 0. */
static void wsf_mask_bytes(unsigned char *dst, const unsigned char *src, Py_ssize_t done, Py_ssize_t n,
                           uint32_t pattern) {
    unsigned char key[4];
    memcpy(key, &pattern, 4);
    for (Py_ssize_t i = done; i < n; i++) dst[i] = src[i] ^ key[i & 3];
}

/* 8 bytes at a time through memcpy: compilers turn these into plain unaligned moves. */
static Py_ssize_t wsf_mask_words(unsigned char *dst, const unsigned char *src, Py_ssize_t done,
                                 Py_ssize_t n, uint32_t pattern) {
    uint64_t pattern64, word;
    memcpy(&pattern64, &pattern, 4);
    memcpy((unsigned char *)&pattern64 + 4, &pattern, 4);
    for (; done + 8 <= n; done += 8) {
        memcpy(&word, src + done, 8);
        word ^= pattern64;
        memcpy(dst + done, &word, 8);
    }
    return done;
}

static void wsf_mask_scalar(unsigned char *dst, const unsigned char *src, Py_ssize_t n, uint32_t pattern) {
    wsf_mask_bytes(dst, src, wsf_mask_words(dst, src, 0, n, pattern), n, pattern);
}

/* The pattern for a position k bytes further on: its bytes in memory order rotated by k. */
static uint32_t wsf_pattern_skip(uint32_t pattern, Py_ssize_t k) {
    unsigned bits = (unsigned)(k & 3) * 8;
#if PY_BIG_ENDIAN
    return (pattern << bits) | (pattern >> ((32 - bits) & 31));
#else
    return (pattern >> bits) | (pattern << ((32 - bits) & 31));
#endif
}

#ifdef WSF_SIMD_X86
/* Payloads from this size on first mask up to dst's vector alignment: aligned stores are faster,
 * smaller ones would spend more on the head than they gain. */
#define WSF_MASK_ALIGN_FROM 512

/* From memory (not cache), the hardware prefetchers here do not keep the loads ahead, and they stop at
 * 4 KiB page boundaries, so every page waits for its translation and first lines. The SIMD loops load
 * each line a page ahead themselves while a page's worth of payload remains: on a stream of 64 KiB
 * reads from memory, 2.0-2.2 us per read instead of 2.4-2.8 (memcpy: 2.1). In cache: up to 10% in a C
 * loop (0.92 -> 1.02 us per 64 KiB), none in the mask 64 KiB benchmark rows. Payloads under a page
 * and the last page of each take no prefetch. */
#define WSF_PREFETCH_AHEAD 4096

/* Starts loading the lines of the `block` bytes one page after src (in bounds: the loops check). */
static inline void wsf_prefetch_ahead(const unsigned char *src, unsigned block) {
    for (unsigned line = 0; line < block; line += 64)
        _mm_prefetch((const char *)(src + WSF_PREFETCH_AHEAD + line), _MM_HINT_T0);
}

/* Masks the bytes before dst's next `align`-byte boundary (a power of 2) with the scalar code and
 * advances past them; the pattern then fits the new start. */
static void wsf_mask_align(unsigned char **dst, const unsigned char **src, Py_ssize_t *n, uint32_t *pattern,
                           unsigned align) {
    Py_ssize_t head = (Py_ssize_t)((align - ((uintptr_t)*dst & (align - 1))) & (align - 1));
    wsf_mask_scalar(*dst, *src, head, *pattern);
    *dst += head; *src += head; *n -= head;
    *pattern = wsf_pattern_skip(*pattern, head);
}

WSF_TARGET("sse2")
static inline void wsf_mask_64_sse2(unsigned char *dst, const unsigned char *src, __m128i key) {
    __m128i a = _mm_loadu_si128((const __m128i *)src);
    __m128i b = _mm_loadu_si128((const __m128i *)(src + 16));
    __m128i c = _mm_loadu_si128((const __m128i *)(src + 32));
    __m128i d = _mm_loadu_si128((const __m128i *)(src + 48));
    _mm_storeu_si128((__m128i *)dst, _mm_xor_si128(a, key));
    _mm_storeu_si128((__m128i *)(dst + 16), _mm_xor_si128(b, key));
    _mm_storeu_si128((__m128i *)(dst + 32), _mm_xor_si128(c, key));
    _mm_storeu_si128((__m128i *)(dst + 48), _mm_xor_si128(d, key));
}

WSF_TARGET("sse2")
static void wsf_mask_sse2(unsigned char *dst, const unsigned char *src, Py_ssize_t n, uint32_t pattern) {
    if (n >= WSF_MASK_ALIGN_FROM) wsf_mask_align(&dst, &src, &n, &pattern, 16);
    const __m128i key = _mm_set1_epi32((int)pattern);
    Py_ssize_t i = 0;
    for (; i + WSF_PREFETCH_AHEAD + 64 <= n; i += 64) {
        wsf_prefetch_ahead(src + i, 64);
        wsf_mask_64_sse2(dst + i, src + i, key);
    }
    for (; i + 64 <= n; i += 64) wsf_mask_64_sse2(dst + i, src + i, key);
    for (; i + 16 <= n; i += 16)
        _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(_mm_loadu_si128((const __m128i *)(src + i)), key));
    wsf_mask_bytes(dst, src, wsf_mask_words(dst, src, i, n, pattern), n, pattern);
}

WSF_TARGET("avx2")
static inline void wsf_mask_128_avx2(unsigned char *dst, const unsigned char *src, __m256i key) {
    __m256i a = _mm256_loadu_si256((const __m256i *)src);
    __m256i b = _mm256_loadu_si256((const __m256i *)(src + 32));
    __m256i c = _mm256_loadu_si256((const __m256i *)(src + 64));
    __m256i d = _mm256_loadu_si256((const __m256i *)(src + 96));
    _mm256_storeu_si256((__m256i *)dst, _mm256_xor_si256(a, key));
    _mm256_storeu_si256((__m256i *)(dst + 32), _mm256_xor_si256(b, key));
    _mm256_storeu_si256((__m256i *)(dst + 64), _mm256_xor_si256(c, key));
    _mm256_storeu_si256((__m256i *)(dst + 96), _mm256_xor_si256(d, key));
}

WSF_TARGET("avx2")
static void wsf_mask_avx2(unsigned char *dst, const unsigned char *src, Py_ssize_t n, uint32_t pattern) {
    if (n >= WSF_MASK_ALIGN_FROM) wsf_mask_align(&dst, &src, &n, &pattern, 32);
    const __m256i key = _mm256_set1_epi32((int)pattern);
    Py_ssize_t i = 0;
    for (; i + WSF_PREFETCH_AHEAD + 128 <= n; i += 128) {
        wsf_prefetch_ahead(src + i, 128);
        wsf_mask_128_avx2(dst + i, src + i, key);
    }
    for (; i + 128 <= n; i += 128) wsf_mask_128_avx2(dst + i, src + i, key);
    for (; i + 32 <= n; i += 32)
        _mm256_storeu_si256((__m256i *)(dst + i),
                            _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(src + i)), key));
    if (i + 16 <= n) {
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm_xor_si128(_mm_loadu_si128((const __m128i *)(src + i)), _mm256_castsi256_si128(key)));
        i += 16;
    }
    wsf_mask_bytes(dst, src, wsf_mask_words(dst, src, i, n, pattern), n, pattern);
}

WSF_TARGET("avx512f,avx512bw")
static inline void wsf_mask_256_avx512(unsigned char *dst, const unsigned char *src, __m512i key) {
    __m512i a = _mm512_loadu_si512((const void *)src);
    __m512i b = _mm512_loadu_si512((const void *)(src + 64));
    __m512i c = _mm512_loadu_si512((const void *)(src + 128));
    __m512i d = _mm512_loadu_si512((const void *)(src + 192));
    _mm512_storeu_si512((void *)dst, _mm512_xor_si512(a, key));
    _mm512_storeu_si512((void *)(dst + 64), _mm512_xor_si512(b, key));
    _mm512_storeu_si512((void *)(dst + 128), _mm512_xor_si512(c, key));
    _mm512_storeu_si512((void *)(dst + 192), _mm512_xor_si512(d, key));
}

/* Masked loads and stores cover the tail (and, for large payloads, the head up to dst's 64-byte
 * alignment): no scalar loop, and masked-off bytes are never touched (their faults are suppressed). */
WSF_TARGET("avx512f,avx512bw")
static void wsf_mask_avx512(unsigned char *dst, const unsigned char *src, Py_ssize_t n, uint32_t pattern) {
    Py_ssize_t head = n >= WSF_MASK_ALIGN_FROM ? (Py_ssize_t)((64 - ((uintptr_t)dst & 63)) & 63) : 0;
    if (head) {
        __mmask64 m = (__mmask64)((1ULL << head) - 1);
        __m512i v = _mm512_maskz_loadu_epi8(m, src);
        _mm512_mask_storeu_epi8(dst, m, _mm512_xor_si512(v, _mm512_set1_epi32((int)pattern)));
        dst += head; src += head; n -= head;
        pattern = wsf_pattern_skip(pattern, head);
    }
    const __m512i key = _mm512_set1_epi32((int)pattern);
    Py_ssize_t i = 0;
    if (dst != src) {
        /* Into another buffer, 256-bit loads stream from memory faster on the AMD EPYC this was tuned on:
         * 64 KiB reads from memory took 2.2-2.4 us each against 2.4-2.5 with 512-bit loads, and 64 KiB
         * in cache the same. In place (a buffer just received, in cache) 512-bit loads are faster: 64 KiB
         * in 420-450 ns against 500. */
        const __m256i key256 = _mm512_castsi512_si256(key);
        for (; i + WSF_PREFETCH_AHEAD + 256 <= n; i += 256) {
            wsf_prefetch_ahead(src + i, 256);
            wsf_mask_128_avx2(dst + i, src + i, key256);
            wsf_mask_128_avx2(dst + i + 128, src + i + 128, key256);
        }
    }
    for (; i + WSF_PREFETCH_AHEAD + 256 <= n; i += 256) {
        wsf_prefetch_ahead(src + i, 256);
        wsf_mask_256_avx512(dst + i, src + i, key);
    }
    for (; i + 256 <= n; i += 256) wsf_mask_256_avx512(dst + i, src + i, key);
    for (; i + 64 <= n; i += 64)
        _mm512_storeu_si512((void *)(dst + i), _mm512_xor_si512(_mm512_loadu_si512((const void *)(src + i)), key));
    if (i < n) {
        __mmask64 m = (__mmask64)((1ULL << (n - i)) - 1);
        __m512i v = _mm512_maskz_loadu_epi8(m, src + i);
        _mm512_mask_storeu_epi8(dst + i, m, _mm512_xor_si512(v, key));
    }
}
#endif /* WSF_SIMD_X86 */

typedef struct {
    const char *name;
    wsf_mask_kernel_fn fn;
    int needs;  /* WSF_CPU_* bits */
} wsf_mask_kernel;

/* Slowest first: wsf_mask_init picks the last one the CPU supports. */
static const wsf_mask_kernel wsf_mask_kernels[] = {
    {"scalar", wsf_mask_scalar, 0},
#ifdef WSF_SIMD_X86
    {"sse2", wsf_mask_sse2, WSF_CPU_SSE2},
    {"avx2", wsf_mask_avx2, WSF_CPU_AVX2},
    {"avx512", wsf_mask_avx512, WSF_CPU_AVX512BW},
#endif
};
#define WSF_MASK_KERNEL_COUNT ((int)(sizeof(wsf_mask_kernels) / sizeof(wsf_mask_kernels[0])))

static const wsf_mask_kernel *wsf_mask_active = &wsf_mask_kernels[0];
static int wsf_mask_cpu_features = 0;  /* set once by wsf_mask_init */

static int wsf_mask_kernel_available(int index) {
    int needs = wsf_mask_kernels[index].needs;
    return (wsf_mask_cpu_features & needs) == needs;
}

/* Makes the named kernel active; -1 if it does not exist or the CPU lacks what it needs. */
static int wsf_mask_use(const char *name) {
    for (int i = 0; i < WSF_MASK_KERNEL_COUNT; i++) {
        if (strcmp(wsf_mask_kernels[i].name, name) == 0 && wsf_mask_kernel_available(i)) {
            wsf_mask_active = &wsf_mask_kernels[i];
            return 0;
        }
    }
    return -1;
}

static void wsf_mask_init(void) {
#ifdef WSF_SIMD_X86
    wsf_mask_cpu_features = wsf_cpu_features();
#endif
    for (int i = 0; i < WSF_MASK_KERNEL_COUNT; i++)
        if (wsf_mask_kernel_available(i)) wsf_mask_active = &wsf_mask_kernels[i];
}

/* The C API: masks src[0:n] into dst (which may be src) with key, starting at key[phase] (phase 0..3). */
static void wsf_mask(unsigned char *dst, const unsigned char *src, Py_ssize_t n, const unsigned char key[4],
                     int phase) {
    uint32_t pattern;
    memcpy(&pattern, key, 4);  /* one 32-bit load: byte loads after the caller's 4-byte store would stall */
    wsf_mask_active->fn(dst, src, n, wsf_pattern_skip(pattern, phase));
}
#endif
