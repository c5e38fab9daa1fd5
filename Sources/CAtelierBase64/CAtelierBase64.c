// AVX2 base64 block decoder (the Muła–Lemire algorithm, "Faster Base64 Encoding and Decoding using AVX2
// Instructions", 2018, in the form of aklomp/base64's dec/avx2 kernel). Hand-written because no packaged Swift or C
// library offers a vectorised decoder here: Foundation and swift-extras-base64 are scalar (2-3 GB/s on this class of
// machine, against 20 GB/s for this loop), and a multi-megabyte image result is decoded on every Gemini job.
// The caller handles everything that is not a whole block of the standard alphabet with a scalar decoder.
#include "CAtelierBase64.h"

#if defined(__x86_64__)
#include <immintrin.h>

int catelier_base64_simd_available(void) { return __builtin_cpu_supports("avx2"); }

__attribute__((target("avx2"))) static size_t decode_avx2(const uint8_t *src, size_t len, uint8_t *dst) {
    // Validation: a byte is in the alphabet iff (lut_lo[low nibble] & lut_hi[high nibble]) == 0.
    const __m256i lut_lo = _mm256_setr_epi8(
        0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A, 0x1B, 0x1B, 0x1B, 0x1A,
        0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A, 0x1B, 0x1B, 0x1B, 0x1A);
    const __m256i lut_hi = _mm256_setr_epi8(
        0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
        0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10);
    // Translation: the value to add to a character, chosen by its high nibble ('/' is told apart from '+').
    const __m256i lut_roll = _mm256_setr_epi8(
        0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m256i mask_2f = _mm256_set1_epi8(0x2F);
    const __m256i pack_shuffle = _mm256_setr_epi8(
        2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1,
        2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
    const __m256i pack_permute = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, -1, -1);
    size_t i = 0, o = 0;
    while (len - i >= 32) {
        __m256i str = _mm256_loadu_si256((const __m256i *)(src + i));
        const __m256i hi_nibbles = _mm256_and_si256(_mm256_srli_epi32(str, 4), mask_2f);
        const __m256i lo_nibbles = _mm256_and_si256(str, mask_2f);
        const __m256i hi = _mm256_shuffle_epi8(lut_hi, hi_nibbles);
        const __m256i lo = _mm256_shuffle_epi8(lut_lo, lo_nibbles);
        if (!_mm256_testz_si256(lo, hi)) break;
        const __m256i eq_2f = _mm256_cmpeq_epi8(str, mask_2f);
        const __m256i roll = _mm256_shuffle_epi8(lut_roll, _mm256_add_epi8(eq_2f, hi_nibbles));
        str = _mm256_add_epi8(str, roll);
        // 32 sextets -> 24 bytes.
        const __m256i merged = _mm256_maddubs_epi16(str, _mm256_set1_epi32(0x01400140));
        __m256i out = _mm256_madd_epi16(merged, _mm256_set1_epi32(0x00011000));
        out = _mm256_shuffle_epi8(out, pack_shuffle);
        out = _mm256_permutevar8x32_epi32(out, pack_permute);
        // Store exactly the 24 valid bytes (16 + 8), never beyond them.
        _mm_storeu_si128((__m128i *)(dst + o), _mm256_castsi256_si128(out));
        _mm_storel_epi64((__m128i *)(dst + o + 16), _mm256_extracti128_si256(out, 1));
        i += 32;
        o += 24;
    }
    return i;
}

size_t catelier_base64_decode_blocks(const uint8_t *src, size_t len, uint8_t *dst) {
    // __builtin_cpu_supports reads a table the runtime fills once at load time: no race, no syscall.
    return __builtin_cpu_supports("avx2") ? decode_avx2(src, len, dst) : 0;
}

#else

int catelier_base64_simd_available(void) { return 0; }
size_t catelier_base64_decode_blocks(const uint8_t *src, size_t len, uint8_t *dst) {
    (void)src; (void)len; (void)dst;
    return 0;
}

#endif
