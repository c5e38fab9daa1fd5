// libjpeg-turbo's libjpeg API (Debian: libjpeg62-turbo-dev).
//
// libjpeg reports a fatal error by calling error_exit, which must not return: the classic answer is setjmp/longjmp,
// which Swift cannot do. The few functions below hold every libjpeg call that can fail, each behind its own setjmp,
// so a longjmp only ever crosses C frames. Warnings about truncated or corrupt entropy-coded data (which libjpeg
// would paper over with grey) are errors too; other warnings are ignored, and nothing is printed to stderr.
#ifndef ATELIER_JPEG_SHIM_H
#define ATELIER_JPEG_SHIM_H

#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

/// A decompressor with its error manager; create with atelier_jpeg_decoder_create, free with atelier_jpeg_decoder_destroy.
typedef struct atelier_jpeg_decoder {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr errorManager;
    jmp_buf jump;
    int created;
    /// The message of the error that stopped decoding (NUL-terminated).
    char message[JMSG_LENGTH_MAX];
} atelier_jpeg_decoder;

static inline void atelier_jpeg_error_exit(j_common_ptr cinfo) {
    atelier_jpeg_decoder *d = (atelier_jpeg_decoder *)cinfo->client_data;
    (*cinfo->err->format_message)(cinfo, d->message);
    longjmp(d->jump, 1);
}

static inline void atelier_jpeg_emit_message(j_common_ptr cinfo, int level) {
    if (level >= 0) return;  // trace messages
    switch (cinfo->err->msg_code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_MUST_RESYNC:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_ARITH_BAD_CODE:
    case JWRN_NOT_SEQUENTIAL:
    case JWRN_BOGUS_PROGRESSION:
        // Truncated or corrupt entropy-coded data: stop instead of returning a partly grey image.
        atelier_jpeg_error_exit(cinfo);
        break;
    default:
        // Metadata oddities (unknown JFIF revision or Adobe transform, bad ICC marker, extraneous bytes between
        // segments) leave the pixels intact: decode on.
        break;
    }
}

static inline void atelier_jpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }

/// A new decoder, or NULL when out of memory.
static inline atelier_jpeg_decoder *atelier_jpeg_decoder_create(void) {
    atelier_jpeg_decoder *d = (atelier_jpeg_decoder *)calloc(1, sizeof(atelier_jpeg_decoder));
    return d;
}

/// Reads the header of `size` bytes at `data` (which must stay valid until the decoder is destroyed).
/// Returns 0, or -1 with `message` set.
static inline int atelier_jpeg_read_header(atelier_jpeg_decoder *d, const unsigned char *data, unsigned long size) {
    d->cinfo.err = jpeg_std_error(&d->errorManager);
    d->errorManager.error_exit = atelier_jpeg_error_exit;
    d->errorManager.emit_message = atelier_jpeg_emit_message;
    d->errorManager.output_message = atelier_jpeg_output_message;
    d->cinfo.client_data = d;
    if (setjmp(d->jump)) {
        return -1;
    }
    jpeg_create_decompress(&d->cinfo);
    d->created = 1;
    jpeg_mem_src(&d->cinfo, data, size);
    jpeg_read_header(&d->cinfo, TRUE);
    return 0;
}

/// Decodes the whole image as 8-bit RGB into `out` (`height` rows of `stride` bytes, as read by the header).
/// Returns 0, or -1 with `message` set.
static inline int atelier_jpeg_decode_rgb(atelier_jpeg_decoder *d, unsigned char *out, size_t stride) {
    if (setjmp(d->jump)) {
        return -1;
    }
    d->cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&d->cinfo);
    if (d->cinfo.output_components != 3) {
        strncpy(d->message, "unexpected number of output components", JMSG_LENGTH_MAX - 1);
        return -1;
    }
    while (d->cinfo.output_scanline < d->cinfo.output_height) {
        JSAMPROW row = out + (size_t)d->cinfo.output_scanline * stride;
        jpeg_read_scanlines(&d->cinfo, &row, 1);
    }
    jpeg_finish_decompress(&d->cinfo);
    return 0;
}

/// Frees the decoder and everything libjpeg allocated for it.
static inline void atelier_jpeg_decoder_destroy(atelier_jpeg_decoder *d) {
    if (d == NULL) return;
    if (d->created) jpeg_destroy_decompress(&d->cinfo);
    free(d);
}

#endif
