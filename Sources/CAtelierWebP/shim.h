// libwebp (Debian: libwebp-dev): decoding and encoding of single-frame WebP images.
#include <webp/decode.h>
#include <webp/encode.h>
