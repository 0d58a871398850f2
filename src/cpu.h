/* Runtime CPU feature detection for the SIMD kernels.
 * Wheels must run on every CPU of their platform, so kernels are compiled with per-function target
 * attributes and chosen at import time from what the CPU (and OS) actually supports. */
#ifndef WSFRAME_CPU_H
#define WSFRAME_CPU_H

#if defined(__x86_64__) || defined(_M_X64)
#define WSF_X86_64 1
#endif

#if defined(WSF_X86_64) && (defined(__GNUC__) || defined(__clang__))
#define WSF_SIMD_X86 1
#define WSF_TARGET(t) __attribute__((target(t)))
#elif defined(WSF_X86_64) && defined(_MSC_VER)
#define WSF_SIMD_X86 1
#define WSF_TARGET(t)
#else
#define WSF_TARGET(t)
#endif

#ifdef WSF_SIMD_X86
#include <immintrin.h>
#ifdef _MSC_VER
#include <intrin.h>
#endif

enum {
    WSF_CPU_SSE2 = 1,
    WSF_CPU_SSSE3 = 2,
    WSF_CPU_SSE41 = 4,
    WSF_CPU_AVX2 = 8,
    WSF_CPU_AVX512BW = 16,  /* with AVX512F and AVX512VL */
    WSF_CPU_AVX512VBMI = 32,
};

static void wsf_cpuid(int leaf, int subleaf, unsigned int regs[4]) {
#ifdef _MSC_VER
    int r[4];
    __cpuidex(r, leaf, subleaf);
    regs[0] = (unsigned)r[0]; regs[1] = (unsigned)r[1]; regs[2] = (unsigned)r[2]; regs[3] = (unsigned)r[3];
#else
    unsigned int a, b, c, d;
    __asm__ __volatile__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(leaf), "c"(subleaf));
    regs[0] = a; regs[1] = b; regs[2] = c; regs[3] = d;
#endif
}

static unsigned long long wsf_xgetbv0(void) {
#ifdef _MSC_VER
    return _xgetbv(0);
#else
    unsigned int lo, hi;
    __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
#endif
}

/* Bit set of WSF_CPU_* features usable here: the CPU has them and the OS saves their registers. */
static int wsf_cpu_features(void) {
    unsigned int r[4];
    int features = WSF_CPU_SSE2;  /* part of x86-64 */
    wsf_cpuid(0, 0, r);
    unsigned int max_leaf = r[0];
    wsf_cpuid(1, 0, r);
    if (r[2] & (1u << 9)) features |= WSF_CPU_SSSE3;
    if (r[2] & (1u << 19)) features |= WSF_CPU_SSE41;
    int osxsave = (r[2] >> 27) & 1, avx = (r[2] >> 28) & 1;
    if (!osxsave || !avx || max_leaf < 7) return features;
    unsigned long long xcr0 = wsf_xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return features;  /* XMM and YMM state */
    wsf_cpuid(7, 0, r);
    if (r[1] & (1u << 5)) features |= WSF_CPU_AVX2;
    int avx512f = (r[1] >> 16) & 1, avx512bw = (r[1] >> 30) & 1, avx512vl = (r[1] >> 31) & 1;
    if ((xcr0 & 0xe6) == 0xe6 && avx512f && avx512bw && avx512vl) {  /* opmask and ZMM state too */
        features |= WSF_CPU_AVX512BW;
        if (r[2] & (1u << 1)) features |= WSF_CPU_AVX512VBMI;
    }
    return features;
}
#endif /* WSF_SIMD_X86 */

#endif /* WSFRAME_CPU_H */
