/* Frames of the freshness service (docs/protocols/freshness.md §8, §8.2): what every
 * party speaks on its TCP connections, coordinator and endorsers as well as clients
 * and coordinators.
 *
 *     frame = u32 length || u8 type || body      (length counts type and body)
 *
 * Ownership: bodies returned are malloc'd and owned by the caller. */
#ifndef SHELTER_FRESHNESS_FRAME_H
#define SHELTER_FRESHNESS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "shelter/error.h"

#define FW_FRAME_MAX (16u << 20) /* bytes of type and body */
#define FW_MESSAGE_MAX 1024      /* bytes of an error message */
#define FW_ANSWER 0x80           /* an answer's type is its request's | FW_ANSWER */
#define FW_ERROR 0xFF

/* Write one frame (all of it, retrying short writes and EINTR). */
int fw_send(int fd, uint8_t type, const uint8_t *body, size_t len, struct shelter_err *err);
/* Read one frame: *body malloc'd (caller frees; may be NULL when len is 0).
 * SHELTER_E_NOENT on a clean end of stream before the frame; SHELTER_E_MALFORMED
 * for a length of 0 or above FW_FRAME_MAX; SHELTER_E_IO otherwise. */
int fw_recv(int fd, uint8_t *type, uint8_t **body, size_t *len, struct shelter_err *err);

/* error: i32 code || u16 len || message. The code is negative (encode refuses
 * others with SHELTER_E_INVAL); the message is cut to FW_MESSAGE_MAX bytes, and
 * decode replaces control characters and truncates to msg_size - 1 bytes. Both
 * return 0, or SHELTER_E_NOMEM / SHELTER_E_MALFORMED. */
int fw_error_encode(int code, const char *msg, uint8_t **out, size_t *len);
int fw_error_decode(const uint8_t *in, size_t len, int *code, char *msg, size_t msg_size);

#endif
