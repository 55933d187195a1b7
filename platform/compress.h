/*
 * compress.h - page compressors for zswap, behind one small ops table so that
 * the freestanding core never links a compression library itself.  The POSIX
 * platform provides "lz4" (liblz4) and "zstd" (libzstd, level 1); a guest
 * kernel would provide its own.
 */
#ifndef GUESTMM_PLATFORM_COMPRESS_H
#define GUESTMM_PLATFORM_COMPRESS_H

#include <stddef.h>

struct compressor {
	const char *name;
	/*
	 * Compress @src_len bytes into at most @dst_len bytes.  Callable from
	 * any thread at once.
	 * Return: the compressed length (> 0); -GMM_E2BIG when the result
	 * would not fit in @dst_len; -GMM_EINVAL on any other failure.
	 */
	int (*compress)(const struct compressor *c, const void *src,
			size_t src_len, void *dst, size_t dst_len);
	/*
	 * Decompress into exactly @dst_len bytes.
	 * Return: 0; -GMM_EBADMSG when @src is corrupt or does not expand to
	 * exactly @dst_len bytes.
	 */
	int (*decompress)(const struct compressor *c, const void *src,
			  size_t src_len, void *dst, size_t dst_len);
};

/* Return: the platform's compressor called @name, or NULL. */
const struct compressor *compressor_find(const char *name);

#endif
