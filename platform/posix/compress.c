/*
 * compress.c - lz4 and zstd for zswap.  lz4 keeps its state on the stack
 * (LZ4_compress_default); zstd needs a context, one per thread, freed by the
 * thread-exit destructor of a pthread key so that worker threads do not leak.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <lz4.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "platform/compress.h"
#include "platform/platform.h"

static int lz4_compress(const struct compressor *c, const void *src,
			size_t src_len, void *dst, size_t dst_len)
{
	int n = LZ4_compress_default(src, dst, (int)src_len, (int)dst_len);

	return n > 0 ? n : -GMM_E2BIG;
}

static int lz4_decompress(const struct compressor *c, const void *src,
			  size_t src_len, void *dst, size_t dst_len)
{
	int n = LZ4_decompress_safe(src, dst, (int)src_len, (int)dst_len);

	return n == (int)dst_len ? 0 : -GMM_EBADMSG;
}

static pthread_key_t zstd_key;
static pthread_once_t zstd_once = PTHREAD_ONCE_INIT;

static void zstd_ctx_free(void *p)
{
	ZSTD_freeCCtx(p);
}

static void zstd_key_create(void)
{
	pthread_key_create(&zstd_key, zstd_ctx_free);
}

static int zstd_compress(const struct compressor *c, const void *src,
			 size_t src_len, void *dst, size_t dst_len)
{
	ZSTD_CCtx *ctx;
	size_t n;

	pthread_once(&zstd_once, zstd_key_create);
	ctx = pthread_getspecific(zstd_key);
	if (!ctx) {
		ctx = ZSTD_createCCtx();
		if (!ctx)
			return -GMM_EINVAL;
		pthread_setspecific(zstd_key, ctx);
	}
	n = ZSTD_compressCCtx(ctx, dst, dst_len, src, src_len, 1);
	if (ZSTD_isError(n))
		return ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall
			       ? -GMM_E2BIG : -GMM_EINVAL;
	return (int)n;
}

static int zstd_decompress(const struct compressor *c, const void *src,
			   size_t src_len, void *dst, size_t dst_len)
{
	size_t n = ZSTD_decompress(dst, dst_len, src, src_len);

	return !ZSTD_isError(n) && n == dst_len ? 0 : -GMM_EBADMSG;
}

static const struct compressor compressors[] = {
	{ .name = "lz4", .compress = lz4_compress, .decompress = lz4_decompress },
	{ .name = "zstd", .compress = zstd_compress, .decompress = zstd_decompress },
};

const struct compressor *compressor_find(const char *name)
{
	for (size_t i = 0; i < sizeof(compressors) / sizeof(compressors[0]); i++)
		if (!strcmp(compressors[i].name, name))
			return &compressors[i];
	return NULL;
}
