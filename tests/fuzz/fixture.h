/* Shared by the volume fuzz harnesses: a volume made with this key and these header
 * fields has the same segment 1 key in every run, so committed records stay valid. */
#ifndef SHELTER_FUZZ_FIXTURE_H
#define SHELTER_FUZZ_FIXTURE_H

#include "shelter/crypto.h"
#include "volume/format.h"

static const uint8_t fz_key[SHELTER_KEY_SIZE] = "shelter-fuzz-volume-key-32bytes!";
static const uint8_t fz_volume_id[VF_ID_SIZE] = "fuzz-volume-id01";
static const uint8_t fz_salt[VF_SALT_SIZE] = "fuzz-volume-salt-0123456789abcde";
static const uint8_t fz_seg_salt[VF_SALT_SIZE] = "fuzz-segment-salt-0123456789abcd";
#define FZ_CREATED_NS INT64_C(1700000000000000000)

#endif
