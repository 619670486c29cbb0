/* Strict base64 (RFC 4648 §4, with padding). Internal to libshelter.
 *
 * OpenSSL's EVP_DecodeBlock skips whitespace, counts padding as data and accepts
 * non-zero pad bits, so one byte string would have many encodings; formats that
 * sign text (docs/formats/log.md §3) need exactly one.
 */
#ifndef SHELTER_UTIL_B64_H
#define SHELTER_UTIL_B64_H

#include <stddef.h>
#include <stdint.h>

/* Encoded size of n bytes, without the NUL. */
#define SHELTER_B64_SIZE(n) (((n) + 2) / 3 * 4)

/* Encode size bytes into out (SHELTER_B64_SIZE(size) + 1 bytes, NUL-terminated);
 * returns the encoded length. */
size_t shelter_b64_encode(const uint8_t *in, size_t size, char *out);

/* Decode len characters into out (cap bytes). 0, or -1 when the text is not the
 * canonical encoding of at most cap bytes. *out_size gets the decoded size. */
int shelter_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_size);

#endif
