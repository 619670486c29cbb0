/* Strict base64 over OpenSSL's block coder (util/b64.h). */
#include <openssl/evp.h>

#include "util/b64.h"

size_t shelter_b64_encode(const uint8_t *in, size_t size, char *out)
{
	if (size == 0) {
		out[0] = '\0';
		return 0;
	}
	return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)size);
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int shelter_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_size)
{
	uint8_t tmp[3];
	size_t pad = 0, got = 0;

	*out_size = 0;
	if (len % 4 != 0)
		return -1;
	while (pad < 2 && pad < len && in[len - 1 - pad] == '=')
		pad++;
	if (len / 4 * 3 - pad > cap)
		return -1;
	for (size_t i = 0; i < len - pad; i++) {
		if (b64_value(in[i]) < 0)
			return -1;
	}
	/* Pad bits must be zero: the last data character carries 4 (one '=') or 2
	 * (two '=') bits beyond the data. */
	if ((pad == 1 && (b64_value(in[len - 2]) & 0x03) != 0) ||
	    (pad == 2 && (b64_value(in[len - 3]) & 0x0f) != 0))
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		size_t n = (i + 4 == len) ? 3 - pad : 3;

		if (EVP_DecodeBlock(tmp, (const unsigned char *)in + i, 4) != 3)
			return -1;
		for (size_t j = 0; j < n; j++)
			out[got++] = tmp[j];
	}
	*out_size = got;
	return 0;
}
