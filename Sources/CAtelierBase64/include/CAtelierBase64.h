#ifndef CATELIER_BASE64_H
#define CATELIER_BASE64_H
#include <stddef.h>
#include <stdint.h>

/// Whether this CPU can run catelier_base64_decode_blocks (x86-64 with AVX2).
int catelier_base64_simd_available(void);

/// Decodes standard-alphabet base64 (A-Z a-z 0-9 + /) in whole 32-character blocks with AVX2, stopping before the
/// first block that holds any other byte (padding, whitespace, the URL-safe alphabet, garbage) or when fewer than 32
/// characters are left. Returns the number of characters consumed (a multiple of 32); consumed / 4 * 3 bytes were
/// written to dst. dst may equal src (in-place decoding): every block is loaded before its 24 bytes are stored, and
/// the store never reaches past the block that was loaded. Returns 0 on CPUs without AVX2.
size_t catelier_base64_decode_blocks(const uint8_t *src, size_t len, uint8_t *dst);

#endif
