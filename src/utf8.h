/* Incremental UTF-8 validation (RFC 3629): a fail-fast scalar state machine for exact error offsets and
 * partial sequences across feeds, plus SIMD bulk validation after Keiser & Lemire, "Validating UTF-8 in
 * less than one instruction per byte" (2021), the "lookup" algorithm of simdjson/simdutf.
 *
 * wsf_utf8_feed: the scalar machine finishes a sequence carried over from the previous feed; a bulk
 * kernel validates from that character boundary and returns a boundary before which all is valid
 * (before its first error, if any); the scalar machine goes on from there to the end, so it reports the
 * exact offset of an error and carries an incomplete trailing sequence in the state. */
#ifndef WSFRAME_UTF8_H
#define WSFRAME_UTF8_H
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include "cpu.h"

typedef struct {
    uint8_t need;    /* continuation bytes still expected */
    uint8_t lo, hi;  /* allowed range of the next continuation byte */
} wsf_utf8_state;

/* ---- scalar state machine ---------------------------------------------------------------------- */

/* Validates p[i:n) from state st; returns -1 (st updated) or the index of the first invalid byte. */
static Py_ssize_t wsf_utf8_scalar(wsf_utf8_state *st, const unsigned char *p, Py_ssize_t i, Py_ssize_t n) {
    unsigned need = st->need, lo = st->lo, hi = st->hi;
    while (i < n) {
        unsigned c = p[i];
        if (need) {
            if (c < lo || c > hi) return i;
            need--; lo = 0x80; hi = 0xBF; i++;
            continue;
        }
        if (c < 0x80) {
            i++;
            /* skip ASCII a word at a time */
            while (i + 8 <= n) {
                uint64_t w;
                memcpy(&w, p + i, 8);
                if (w & 0x8080808080808080ULL) break;
                i += 8;
            }
            continue;
        }
        lo = 0x80; hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) lo = 0xA0;       /* overlong */
            else if (c == 0xED) hi = 0x9F;  /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) lo = 0x90;       /* overlong */
            else if (c == 0xF4) hi = 0x8F;  /* over U+10FFFF */
        } else return i;
        i++;
    }
    st->need = (uint8_t)need; st->lo = (uint8_t)lo; st->hi = (uint8_t)hi;
    return -1;
}

/* Length of the sequence a lead byte starts (0 for continuation bytes).  F5..FF count as 4 so that a
 * block-final one is left to the scalar machine: its next-byte check has not run yet. */
static int wsf_utf8_sequence_length(unsigned char c) {
    if (c < 0x80) return 1;
    if (c < 0xC0) return 0;
    if (c < 0xE0) return 2;
    if (c < 0xF0) return 3;
    return 4;
}

/* Where to stop validating p[0:end) in bulk so that no sequence is cut: `end`, or the start of a
 * sequence that `end` cuts (looking back up to 4 bytes; if all are continuation bytes, which is invalid,
 * end - 4).  The bulk kernels use it when they stop at an error: all before it is then valid. */
static Py_ssize_t wsf_utf8_boundary_before(const unsigned char *p, Py_ssize_t end) {
    for (Py_ssize_t j = end; j > 0 && j >= end - 3; j--)
        if ((p[j - 1] & 0xC0) != 0x80) return wsf_utf8_sequence_length(p[j - 1]) > end - (j - 1) ? j - 1 : end;
    return end > 3 ? end - 4 : 0;  /* 4 continuation bytes: invalid, the scalar machine will say where */
}

/* ---- SIMD bulk kernels ------------------------------------------------------------------------- */
/* Each kernel validates p[0:n) starting at a character boundary and returns k: p[0:k) is valid and
 * complete; k < n means an error (or a sequence cut by the end) within the group of blocks after k
 * (under 260 bytes), so the scalar machine re-scans little. */
typedef Py_ssize_t (*wsf_utf8_bulk_fn)(const unsigned char *p, Py_ssize_t n);

#ifdef WSF_SIMD_X86
/* Keiser-Lemire error flags, looked up from the high nibble of the previous byte, its low nibble, and
 * the high nibble of the current byte; a pair is invalid when the three lookups share a bit. */
#define WSF_U8_TOO_SHORT 0x01  /* lead followed by a lead or ASCII */
#define WSF_U8_TOO_LONG 0x02   /* ASCII followed by a continuation */
#define WSF_U8_OVERLONG_3 0x04
#define WSF_U8_TOO_LARGE 0x08
#define WSF_U8_SURROGATE 0x10
#define WSF_U8_OVERLONG_2 0x20
#define WSF_U8_TOO_LARGE_1000 0x40
#define WSF_U8_OVERLONG_4 0x40
#define WSF_U8_TWO_CONTS 0x80  /* continuation after continuation: must be a 3rd/4th byte */
#define WSF_U8_CARRY (WSF_U8_TOO_SHORT | WSF_U8_TOO_LONG | WSF_U8_TWO_CONTS)

#define WSF_U8_BYTE1_HIGH \
    WSF_U8_TOO_LONG, WSF_U8_TOO_LONG, WSF_U8_TOO_LONG, WSF_U8_TOO_LONG, \
    WSF_U8_TOO_LONG, WSF_U8_TOO_LONG, WSF_U8_TOO_LONG, WSF_U8_TOO_LONG, \
    WSF_U8_TWO_CONTS, WSF_U8_TWO_CONTS, WSF_U8_TWO_CONTS, WSF_U8_TWO_CONTS, \
    WSF_U8_TOO_SHORT | WSF_U8_OVERLONG_2, \
    WSF_U8_TOO_SHORT, \
    WSF_U8_TOO_SHORT | WSF_U8_OVERLONG_3 | WSF_U8_SURROGATE, \
    WSF_U8_TOO_SHORT | WSF_U8_TOO_LARGE | WSF_U8_TOO_LARGE_1000 | WSF_U8_OVERLONG_4
#define WSF_U8_BYTE1_LOW \
    WSF_U8_CARRY | WSF_U8_OVERLONG_3 | WSF_U8_OVERLONG_2 | WSF_U8_OVERLONG_4, \
    WSF_U8_CARRY | WSF_U8_OVERLONG_2, \
    WSF_U8_CARRY, WSF_U8_CARRY, \
    WSF_U8_CARRY | WSF_U8_TOO_LARGE, \
    WSF_U8_CARRY | WSF_U8_TOO_LARGE | WSF_U8_TOO_LARGE_1000, \
    WSF_U8_CARRY | WSF_U8_TOO_LARGE | WSF_U8_TOO_LARGE_1000, \
    WSF_U8_CARRY | WSF_U8_TOO_LARGE | WSF_U8_TOO_LARGE_1000, \
    WSF_U8_CARRY | WSF_U8_TOO_LARGE | WSF_U8_TOO_LARGE_1000, \
    WSF_U8_CARRY | WSF_U8_TOO_LARGE | WSF_U8_TOO_LARGE_1000, \
    WSF_U8_CARRY | WSF_U8_TOO_LARGE | WSF_U8_TOO_LARGE_1000, \
    WSF_U8_CARRY | WSF_U8_TOO_LARGE | WSF_U8_TOO_LARGE_1000, \
    WSF_U8_CARRY | WSF_U8_TOO_LARGE | WSF_U8_TOO_LARGE_1000, \
    WSF_U8_CARRY | WSF_U8_TOO_LARGE | WSF_U8_TOO_LARGE_1000 | WSF_U8_SURROGATE, \
    WSF_U8_CARRY | WSF_U8_TOO_LARGE | WSF_U8_TOO_LARGE_1000, \
    WSF_U8_CARRY | WSF_U8_TOO_LARGE | WSF_U8_TOO_LARGE_1000
#define WSF_U8_BYTE2_HIGH \
    WSF_U8_TOO_SHORT, WSF_U8_TOO_SHORT, WSF_U8_TOO_SHORT, WSF_U8_TOO_SHORT, \
    WSF_U8_TOO_SHORT, WSF_U8_TOO_SHORT, WSF_U8_TOO_SHORT, WSF_U8_TOO_SHORT, \
    WSF_U8_TOO_LONG | WSF_U8_OVERLONG_2 | WSF_U8_TWO_CONTS | WSF_U8_OVERLONG_3 | WSF_U8_TOO_LARGE_1000 | WSF_U8_OVERLONG_4, \
    WSF_U8_TOO_LONG | WSF_U8_OVERLONG_2 | WSF_U8_TWO_CONTS | WSF_U8_OVERLONG_3 | WSF_U8_TOO_LARGE, \
    WSF_U8_TOO_LONG | WSF_U8_OVERLONG_2 | WSF_U8_TWO_CONTS | WSF_U8_SURROGATE | WSF_U8_TOO_LARGE, \
    WSF_U8_TOO_LONG | WSF_U8_OVERLONG_2 | WSF_U8_TWO_CONTS | WSF_U8_SURROGATE | WSF_U8_TOO_LARGE, \
    WSF_U8_TOO_SHORT, WSF_U8_TOO_SHORT, WSF_U8_TOO_SHORT, WSF_U8_TOO_SHORT

/* The kernel, written once over a vector "ISA" V: per-ISA inline helpers named wsf_<isa>_<op>.
 *   load(p), load_partial(p, n) (n < width, zero-filled, never reads past p+n), set1(b),
 *   table(16 bytes...) broadcast a nibble table, lookup(table, nibbles), shr4(v) (nibble of each byte),
 *   prev(v, prev_block, k) for k=1..3 (v shifted right by k bytes, filled from prev_block's end),
 *   and/or/xor/subs (unsigned saturating), any(v) (a byte is non-zero), ascii(v) (all < 0x80),
 *   incomplete_max() (0xFF but EF DF BF in the last 3 bytes: above these, a byte starts a sequence
 *   that the block does not finish).
 * Past the first block, the bytes before each byte are loaded from memory at p-1, p-2, p-3 rather than
 * shifted in from the previous block: loads are cheaper than the lane-crossing shuffles, and the kernel
 * is bound by vector ALU operations.  Errors are or-ed over a group of GROUP blocks and tested once per
 * group (fail-fast within a group); an error makes the kernel return the boundary before the group.
 * An all-ASCII group is only checked for a sequence left open before it, and ASCII runs are skipped 4
 * blocks at a time. */
/* Makes GCC materialize v here.  Between the blocks of a group: GCC otherwise interleaves them and, with
 * AVX2's 16 registers, spills.  On the p-1 load: GCC otherwise folds it into two instructions, loading
 * it twice, and the kernel is also bound by loads (an unaligned 64-byte load touches two cache lines).
 * Measured with GCC 12 on Zen 5: AVX2 27 -> 29.9 GB/s, AVX-512 53 -> 63 GB/s; clang needs neither. */
#if defined(__GNUC__)
#define WSF_UTF8_BLOCK_BARRIER(v) __asm__("" : "+v"(v))
#else
#define WSF_UTF8_BLOCK_BARRIER(v) ((void)0)
#endif
#define WSF_UTF8_DEFINE_KERNEL(isa, target, V, WIDTH, GROUP)                                            \
WSF_TARGET(target) static inline V wsf_##isa##_errors(V in, V prev1, V prev2, V prev3) {                \
    const V byte1_high = wsf_##isa##_table(WSF_U8_BYTE1_HIGH);                                           \
    const V byte1_low = wsf_##isa##_table(WSF_U8_BYTE1_LOW);                                             \
    const V byte2_high = wsf_##isa##_table(WSF_U8_BYTE2_HIGH);                                           \
    V special = wsf_##isa##_and(                                                                         \
        wsf_##isa##_and(wsf_##isa##_lookup(byte1_high, wsf_##isa##_shr4(prev1)),                         \
                        wsf_##isa##_lookup(byte1_low, wsf_##isa##_and(prev1, wsf_##isa##_set1(0x0F)))),  \
        wsf_##isa##_lookup(byte2_high, wsf_##isa##_shr4(in)));                                           \
    /* bit 7: the byte must be a 3rd (2 after E0..EF) or 4th (3 after F0..FF) continuation */            \
    V must23 = wsf_##isa##_or(wsf_##isa##_subs(prev2, wsf_##isa##_set1(0xE0 - 0x80)),                    \
                              wsf_##isa##_subs(prev3, wsf_##isa##_set1(0xF0 - 0x80)));                   \
    return wsf_##isa##_xor(wsf_##isa##_and(must23, wsf_##isa##_set1(0x80)), special);                    \
}                                                                                                        \
/* errors of the block `in` at p, p[-3:0) readable */                                                    \
WSF_TARGET(target) static inline V wsf_##isa##_errors_at(V in, const unsigned char *p) {                \
    V prev1 = wsf_##isa##_load(p - 1);                                                                   \
    WSF_UTF8_BLOCK_BARRIER(prev1);                                                                       \
    return wsf_##isa##_errors(in, prev1, wsf_##isa##_load(p - 2), wsf_##isa##_load(p - 3));              \
}                                                                                                        \
/* errors of the block `in` after prev_block, in registers (the first block; the zero-filled tail) */   \
WSF_TARGET(target) static inline V wsf_##isa##_errors_after(V in, V prev_block) {                       \
    return wsf_##isa##_errors(in, wsf_##isa##_prev(in, prev_block, 1), wsf_##isa##_prev(in, prev_block, 2), \
                              wsf_##isa##_prev(in, prev_block, 3));                                      \
}                                                                                                        \
WSF_TARGET(target) static Py_ssize_t wsf_utf8_bulk_##isa(const unsigned char *p, Py_ssize_t n) {        \
    const V incomplete_max = wsf_##isa##_incomplete_max();                                               \
    V error = wsf_##isa##_set1(0);                                                                       \
    Py_ssize_t i = 0, checked = 0;  /* no error flagged in p[0:checked) */                               \
    if (n >= (WIDTH)) {                                                                                  \
        error = wsf_##isa##_errors_after(wsf_##isa##_load(p), wsf_##isa##_set1(0));                      \
        i = (WIDTH);                                                                                     \
        /* On from an aligned address, by one more block that overlaps the first: an unaligned load     \
           touches two cache lines. AVX-512 on an Intel Xeon, 1 MiB of ASCII 48 bytes past a 64-byte      \
           boundary (where CPython puts a large bytes object's data): 100 -> 180 GB/s. Not from 1 or 2    \
           bytes before a boundary: errors_at reads p[-3:0). */                                          \
        Py_ssize_t to_aligned = (Py_ssize_t)(-(uintptr_t)p & ((WIDTH) - 1));                             \
        if (to_aligned >= 3 && to_aligned + 2 * (WIDTH) <= n) {                                          \
            error = wsf_##isa##_or(error, wsf_##isa##_errors_at(wsf_##isa##_load(p + to_aligned), p + to_aligned)); \
            i = to_aligned + (WIDTH);                                                                    \
        }                                                                                                \
    }                                                                                                    \
    while (i + (GROUP) * (WIDTH) <= n) {                                                                 \
        V block[GROUP], high = wsf_##isa##_set1(0);                                                      \
        for (int k = 0; k < (GROUP); k++) {                                                              \
            block[k] = wsf_##isa##_load(p + i + k * (WIDTH));                                            \
            high = wsf_##isa##_or(high, block[k]);                                                       \
        }                                                                                                \
        if (wsf_##isa##_ascii(high)) {                                                                   \
            /* ASCII cannot finish a sequence the block before started */                                \
            error = wsf_##isa##_or(error, wsf_##isa##_subs(wsf_##isa##_load(p + i - (WIDTH)), incomplete_max)); \
            i += (GROUP) * (WIDTH);                                                                      \
            while (i + 4 * (WIDTH) <= n && wsf_##isa##_ascii(wsf_##isa##_or(                             \
                       wsf_##isa##_or(wsf_##isa##_load(p + i), wsf_##isa##_load(p + i + (WIDTH))),       \
                       wsf_##isa##_or(wsf_##isa##_load(p + i + 2 * (WIDTH)), wsf_##isa##_load(p + i + 3 * (WIDTH)))))) \
                i += 4 * (WIDTH);                                                                        \
        } else {                                                                                         \
            V group_error = wsf_##isa##_errors_at(block[0], p + i);                                      \
            for (int k = 1; k < (GROUP); k++) {                                                          \
                WSF_UTF8_BLOCK_BARRIER(group_error);                                                     \
                group_error = wsf_##isa##_or(group_error, wsf_##isa##_errors_at(block[k], p + i + k * (WIDTH))); \
            }                                                                                            \
            error = wsf_##isa##_or(error, group_error);                                                  \
            i += (GROUP) * (WIDTH);                                                                      \
        }                                                                                                \
        if (wsf_##isa##_any(error)) return wsf_utf8_boundary_before(p, checked);                         \
        checked = i;                                                                                     \
    }                                                                                                    \
    for (; i + (WIDTH) <= n; i += (WIDTH))                                                               \
        error = wsf_##isa##_or(error, wsf_##isa##_errors_at(wsf_##isa##_load(p + i), p + i));            \
    if (i < n)  /* zero-filled: a sequence cut by the end fails as too short */                          \
        error = wsf_##isa##_or(error, wsf_##isa##_errors_after(wsf_##isa##_load_partial(p + i, n - i),  \
                                                               i ? wsf_##isa##_load(p + i - (WIDTH)) : wsf_##isa##_set1(0))); \
    else if (n >= (WIDTH))                                                                               \
        error = wsf_##isa##_or(error, wsf_##isa##_subs(wsf_##isa##_load(p + n - (WIDTH)), incomplete_max)); \
    return wsf_##isa##_any(error) ? wsf_utf8_boundary_before(p, checked) : n;                            \
}

/* SSSE3 + SSE4.1: 16-byte blocks */
#define WSF_SSE_TARGET "ssse3,sse4.1"
WSF_TARGET(WSF_SSE_TARGET) static inline __m128i wsf_sse_load(const unsigned char *p) {
    return _mm_loadu_si128((const __m128i *)p);
}
WSF_TARGET(WSF_SSE_TARGET) static inline __m128i wsf_sse_load_partial(const unsigned char *p, Py_ssize_t n) {
    unsigned char tmp[16] = {0};
    memcpy(tmp, p, (size_t)n);
    return _mm_loadu_si128((const __m128i *)tmp);
}
#define wsf_sse_set1(b) _mm_set1_epi8((char)(b))
#define wsf_sse_table(...) _mm_setr_epi8(__VA_ARGS__)
#define wsf_sse_lookup(t, v) _mm_shuffle_epi8((t), (v))
#define wsf_sse_shr4(v) _mm_and_si128(_mm_srli_epi16((v), 4), _mm_set1_epi8(0x0F))
#define wsf_sse_prev(v, prev, k) _mm_alignr_epi8((v), (prev), 16 - (k))
#define wsf_sse_and _mm_and_si128
#define wsf_sse_or _mm_or_si128
#define wsf_sse_xor _mm_xor_si128
#define wsf_sse_subs _mm_subs_epu8
#define wsf_sse_any(v) (!_mm_testz_si128((v), (v)))
#define wsf_sse_ascii(v) (_mm_movemask_epi8(v) == 0)
#define wsf_sse_incomplete_max() \
    _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, (char)0xEF, (char)0xDF, (char)0xBF)
WSF_UTF8_DEFINE_KERNEL(sse, WSF_SSE_TARGET, __m128i, 16, 4)

/* AVX2: 32-byte blocks */
WSF_TARGET("avx2") static inline __m256i wsf_avx2_load(const unsigned char *p) {
    return _mm256_loadu_si256((const __m256i *)p);
}
WSF_TARGET("avx2") static inline __m256i wsf_avx2_load_partial(const unsigned char *p, Py_ssize_t n) {
    unsigned char tmp[32] = {0};
    memcpy(tmp, p, (size_t)n);
    return _mm256_loadu_si256((const __m256i *)tmp);
}
/* the previous bytes come from the upper lane of prev for the lower lane */
WSF_TARGET("avx2") static inline __m256i wsf_avx2_prev_lanes(__m256i v, __m256i prev) {
    return _mm256_permute2x128_si256(prev, v, 0x21);
}
#define wsf_avx2_set1(b) _mm256_set1_epi8((char)(b))
#define wsf_avx2_table(...) _mm256_setr_epi8(__VA_ARGS__, __VA_ARGS__)
#define wsf_avx2_lookup(t, v) _mm256_shuffle_epi8((t), (v))
#define wsf_avx2_shr4(v) _mm256_and_si256(_mm256_srli_epi16((v), 4), _mm256_set1_epi8(0x0F))
#define wsf_avx2_prev(v, prev, k) _mm256_alignr_epi8((v), wsf_avx2_prev_lanes((v), (prev)), 16 - (k))
#define wsf_avx2_and _mm256_and_si256
#define wsf_avx2_or _mm256_or_si256
#define wsf_avx2_xor _mm256_xor_si256
#define wsf_avx2_subs _mm256_subs_epu8
#define wsf_avx2_any(v) (!_mm256_testz_si256((v), (v)))
#define wsf_avx2_ascii(v) (_mm256_movemask_epi8(v) == 0)
#define wsf_avx2_incomplete_max() \
    _mm256_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, \
                     -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, (char)0xEF, (char)0xDF, (char)0xBF)
WSF_UTF8_DEFINE_KERNEL(avx2, "avx2", __m256i, 32, 4)

/* AVX-512 BW: 64-byte blocks, masked loads for the tail */
#define WSF_AVX512_TARGET "avx512f,avx512bw,avx512vl"
WSF_TARGET(WSF_AVX512_TARGET) static inline __m512i wsf_avx512_load(const unsigned char *p) {
    return _mm512_loadu_si512((const void *)p);
}
WSF_TARGET(WSF_AVX512_TARGET) static inline __m512i wsf_avx512_load_partial(const unsigned char *p, Py_ssize_t n) {
    return _mm512_maskz_loadu_epi8((__mmask64)((1ULL << n) - 1), (const void *)p);  /* n < 64 */
}
/* 128-bit lanes [prev.3, v.0, v.1, v.2]: what each lane of v continues */
WSF_TARGET(WSF_AVX512_TARGET) static inline __m512i wsf_avx512_prev_lanes(__m512i v, __m512i prev) {
    return _mm512_alignr_epi64(v, prev, 6);
}
WSF_TARGET(WSF_AVX512_TARGET) static inline __m512i wsf_avx512_table16(__m128i t) {
    return _mm512_broadcast_i32x4(t);
}
#define wsf_avx512_set1(b) _mm512_set1_epi8((char)(b))
#define wsf_avx512_table(...) wsf_avx512_table16(_mm_setr_epi8(__VA_ARGS__))
#define wsf_avx512_lookup(t, v) _mm512_shuffle_epi8((t), (v))
#define wsf_avx512_shr4(v) _mm512_and_si512(_mm512_srli_epi16((v), 4), _mm512_set1_epi8(0x0F))
#define wsf_avx512_prev(v, prev, k) _mm512_alignr_epi8((v), wsf_avx512_prev_lanes((v), (prev)), 16 - (k))
#define wsf_avx512_and _mm512_and_si512
#define wsf_avx512_or _mm512_or_si512
#define wsf_avx512_xor _mm512_xor_si512
#define wsf_avx512_subs _mm512_subs_epu8
#define wsf_avx512_any(v) (_mm512_test_epi8_mask((v), (v)) != 0)
#define wsf_avx512_ascii(v) (_mm512_movepi8_mask(v) == 0)
#define wsf_avx512_incomplete_max() \
    _mm512_mask_blend_epi8(0x7ULL << 61, _mm512_set1_epi8(-1), _mm512_set1_epi32((int)0xBFDFEF00u))
WSF_UTF8_DEFINE_KERNEL(avx512, WSF_AVX512_TARGET, __m512i, 64, 4)
#endif /* WSF_SIMD_X86 */

/* ---- kernel selection -------------------------------------------------------------------------- */

enum { WSF_UTF8_SCALAR, WSF_UTF8_SSE, WSF_UTF8_AVX2, WSF_UTF8_AVX512, WSF_UTF8_KERNEL_COUNT };
static const char *const wsf_utf8_kernel_names[WSF_UTF8_KERNEL_COUNT] = {"scalar", "sse4.1", "avx2", "avx512"};
static const wsf_utf8_bulk_fn wsf_utf8_kernel_fns[WSF_UTF8_KERNEL_COUNT] = {
    NULL,  /* the scalar machine does it all */
#ifdef WSF_SIMD_X86
    wsf_utf8_bulk_sse, wsf_utf8_bulk_avx2, wsf_utf8_bulk_avx512,
#else
    NULL, NULL, NULL,
#endif
};
static int wsf_utf8_kernel_available[WSF_UTF8_KERNEL_COUNT] = {1, 0, 0, 0};
static int wsf_utf8_kernel = WSF_UTF8_SCALAR;
static wsf_utf8_bulk_fn wsf_utf8_bulk = NULL;

/* Selects kernel k (an index into wsf_utf8_kernel_names); 0 if it is not available on this CPU. */
static int wsf_utf8_use_kernel(int k) {
    if (k < 0 || k >= WSF_UTF8_KERNEL_COUNT || !wsf_utf8_kernel_available[k]) return 0;
    wsf_utf8_kernel = k;
    wsf_utf8_bulk = wsf_utf8_kernel_fns[k];
    return 1;
}

/* Detects the kernels this CPU runs and selects the fastest; call once before any validation. */
static void wsf_utf8_init(void) {
#ifdef WSF_SIMD_X86
    int features = wsf_cpu_features();
    wsf_utf8_kernel_available[WSF_UTF8_SSE] = (features & WSF_CPU_SSSE3) && (features & WSF_CPU_SSE41);
    wsf_utf8_kernel_available[WSF_UTF8_AVX2] = (features & WSF_CPU_AVX2) != 0;
    wsf_utf8_kernel_available[WSF_UTF8_AVX512] = (features & WSF_CPU_AVX512BW) != 0;
#endif
    for (int k = WSF_UTF8_KERNEL_COUNT - 1; k >= 0; k--)
        if (wsf_utf8_use_kernel(k)) break;
}

/* ---- the C API --------------------------------------------------------------------------------- */

/* Below this many bytes the scalar machine beats setting up a SIMD kernel. */
#define WSF_UTF8_BULK_MIN 16

/* Feeds p[0:n): -1 if all is valid so far (st updated), else the index in p of the first invalid byte
 * (st is then undefined). */
static Py_ssize_t wsf_utf8_feed(wsf_utf8_state *st, const unsigned char *p, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (st->need && i < n) {  /* finish the sequence carried over from the previous feed */
        if (p[i] < st->lo || p[i] > st->hi) return i;
        st->need--; st->lo = 0x80; st->hi = 0xBF; i++;
    }
    if (wsf_utf8_bulk != NULL && n - i >= WSF_UTF8_BULK_MIN)
        i += wsf_utf8_bulk(p + i, wsf_utf8_boundary_before(p + i, n - i));
    return wsf_utf8_scalar(st, p, i, n);
}

/* 1 if the stream fed so far ends on a character boundary. */
static int wsf_utf8_complete(const wsf_utf8_state *st) { return st->need == 0; }

#endif /* WSFRAME_UTF8_H */
