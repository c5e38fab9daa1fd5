// libpng (Debian: libpng-dev). Atelier uses its simplified read API (png_image_*), which reports errors through
// png_image.message instead of longjmp, so it is safe to call from Swift.
#include <png.h>

/// PNG_FORMAT_RGB and PNG_FORMAT_RGBA as plain constants (the macros are expressions Swift does not import).
static const unsigned int ATELIER_PNG_FORMAT_RGB = PNG_FORMAT_RGB;
static const unsigned int ATELIER_PNG_FORMAT_RGBA = PNG_FORMAT_RGBA;
