/* The codec module's internals shared with storage/cstream.c: the library
 * contexts of a struct ed_codec, made with Eddy's counted allocator. */
#ifndef ED_STORAGE_CODEC_INT_H
#define ED_STORAGE_CODEC_INT_H

#include "storage/codec.h"

#if ED_WITH_GZIP
/* c->deflate (a z_stream) writing a gzip stream at level (0 = zlib's
 * default), made or reset: ED_OK, ED_ERR_NOMEM, ED_ERR_INVAL. */
int ed_codec_deflater(struct ed_codec *c, int level);
#endif
#if ED_WITH_ZSTD
/* c->zstd_cctx made if it is not yet: ED_OK or ED_ERR_NOMEM. */
int ed_codec_zstd_cctx(struct ed_codec *c);
#endif

#endif
