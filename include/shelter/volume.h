/* Protected volumes: a host directory of ciphertext that behaves like a small POSIX
 * file tree (docs/formats/volume.md).
 *
 * Thread safety: one struct shelter_volume may be used from many threads; calls are
 * serialised on the handle. Several processes (including fork()ed children, which
 * inherit the handle) may open one volume at once: they coordinate through a POSIX
 * record lock on DIR/lock and each sees the others' completed writes (§7).
 *
 * Paths are relative to the volume root, '/'-separated; a leading '/' is ignored;
 * "." components are skipped and ".." is refused (the shield resolves it).
 * Symbolic links are stored, never followed by this library.
 *
 * Ownership: every handle returned through an out_* parameter belongs to the
 * caller and is released with its _close/_free function; NULL is always a no-op
 * there. Key buffers are copied; the caller may wipe its copy once a call returns.
 */
#ifndef SHELTER_VOLUME_H
#define SHELTER_VOLUME_H

#include <stddef.h>
#include <stdint.h>

#include "shelter/error.h"

#define SHELTER_VOLUME_KEY_SIZE 32
#define SHELTER_VOLUME_TAG_SIZE 32
#define SHELTER_VOLUME_NAME_MAX 255
#define SHELTER_VOLUME_PATH_MAX 4096

struct shelter_volume;
struct shelter_file;

enum shelter_file_type {
	SHELTER_FT_REG = 1,
	SHELTER_FT_DIR = 2,
	SHELTER_FT_LNK = 3,
};

struct shelter_stat {
	uint64_t ino;
	uint32_t type; /* enum shelter_file_type */
	uint32_t mode; /* permission bits only (07777) */
	uint64_t size; /* plaintext bytes; link target length for symlinks */
	uint64_t blocks; /* 512-byte units of stored ciphertext (holes excluded) */
	int64_t mtime_ns;
	int64_t ctime_ns;
	uint32_t nlink;
};

struct shelter_volume_options {
	/* Roll the log over to a new segment past this many bytes (0: default 256 MiB;
	 * minimum 64 KiB). Only affects new segments. */
	uint64_t segment_size;
	/* When non-NULL, open fails with SHELTER_E_STALE unless this tag is the
	 * volume's current tag or an earlier point of its history (§6). */
	const uint8_t *expected_tag;
	/* Keep up to this many bytes of decrypted chunks in memory, rounded down to a
	 * power of two times 4096 (0: no cache; at most 16 GiB), so that reading a
	 * chunk again costs a copy instead of a read and a decryption (§7.4). A hit is
	 * the authenticated plaintext of the chunk's current record, so writes of
	 * other processes stay visible. The memory is reserved at open, touched as
	 * chunks are cached, and wiped at close. */
	uint64_t cache_bytes;
};

/* Create an empty volume in dir (created if absent; must be empty otherwise). */
SHELTER_API SHELTER_MUST_USE int shelter_volume_create(const char *dir,
						       const uint8_t key[SHELTER_VOLUME_KEY_SIZE],
						       struct shelter_err *err);

/* Open an existing volume: checks the key, finds the newest checkpoint (§10) and
 * authenticates every record logged since, checks the structure of the log, and
 * repairs a torn tail left by a crash. Chunks inside the checkpoint are
 * authenticated when read. A writer's open also removes segments a checkpoint has
 * replaced and compacts when most of the log is dead. opts may be NULL. */
SHELTER_API SHELTER_MUST_USE int shelter_volume_open(const char *dir,
						     const uint8_t key[SHELTER_VOLUME_KEY_SIZE],
						     const struct shelter_volume_options *opts,
						     struct shelter_volume **out,
						     struct shelter_err *err);

/* Close; open files of this volume must be closed first. NULL is a no-op. */
SHELTER_API void shelter_volume_close(struct shelter_volume *vol);

/* The current 32-byte volume tag (§6): commits to the whole state. */
SHELTER_API SHELTER_MUST_USE int shelter_volume_tag(struct shelter_volume *vol,
						    uint8_t out[SHELTER_VOLUME_TAG_SIZE],
						    struct shelter_err *err);

/* Rewrite the live state into a checkpoint and delete the log segments it replaces
 * (§10), reclaiming the space of overwritten and deleted data and bounding the
 * time the next open takes. Like any write it moves the tag on (by its seal
 * records); the checkpoint keeps the last tags before it (up to 128, the seal's
 * included), which stay valid as expected tags (§10.3). Holds the volume's write lock for the whole
 * copy. A writer's open runs it by itself when more than half of a log over
 * 64 MiB is dead, and still opens when that fails. */
SHELTER_API SHELTER_MUST_USE int shelter_volume_compact(struct shelter_volume *vol,
							struct shelter_err *err);

/* Make every completed write durable (fdatasync of the log). */
SHELTER_API SHELTER_MUST_USE int shelter_volume_sync(struct shelter_volume *vol,
						     struct shelter_err *err);

SHELTER_API SHELTER_MUST_USE int shelter_volume_stat(struct shelter_volume *vol, const char *path,
						     struct shelter_stat *out,
						     struct shelter_err *err);
SHELTER_API SHELTER_MUST_USE int shelter_volume_mkdir(struct shelter_volume *vol, const char *path,
						      uint32_t mode, struct shelter_err *err);
/* Create path and any missing parents as directories (like mkdir -p). */
SHELTER_API SHELTER_MUST_USE int shelter_volume_mkdirs(struct shelter_volume *vol,
						       const char *path, uint32_t mode,
						       struct shelter_err *err);
SHELTER_API SHELTER_MUST_USE int shelter_volume_rmdir(struct shelter_volume *vol, const char *path,
						      struct shelter_err *err);
/* Remove a file or symlink. Open handles to it in this process keep working. */
SHELTER_API SHELTER_MUST_USE int shelter_volume_unlink(struct shelter_volume *vol, const char *path,
						       struct shelter_err *err);
/* Atomically rename; replaces an existing file, symlink or empty directory at to. */
SHELTER_API SHELTER_MUST_USE int shelter_volume_rename(struct shelter_volume *vol, const char *from,
						       const char *to, struct shelter_err *err);
SHELTER_API SHELTER_MUST_USE int shelter_volume_symlink(struct shelter_volume *vol,
							const char *target, const char *path,
							struct shelter_err *err);
/* Copy the link target into buf (NUL-terminated, truncated to size-1). */
SHELTER_API SHELTER_MUST_USE int shelter_volume_readlink(struct shelter_volume *vol,
							 const char *path, char *buf, size_t size,
							 struct shelter_err *err);
SHELTER_API SHELTER_MUST_USE int shelter_volume_chmod(struct shelter_volume *vol, const char *path,
						      uint32_t mode, struct shelter_err *err);
/* Set the size of a regular file (truncate or extend with zeros). */
SHELTER_API SHELTER_MUST_USE int shelter_volume_truncate(struct shelter_volume *vol,
							 const char *path, uint64_t size,
							 struct shelter_err *err);

/* Directory listing: the callback sees each entry in name order (no "." or "..");
 * name is borrowed for the duration of the call. A non-zero return from the
 * callback stops the listing and is returned. */
typedef int (*shelter_volume_dirent_fn)(void *ctx, const char *name,
					const struct shelter_stat *st);
SHELTER_API SHELTER_MUST_USE int shelter_volume_readdir(struct shelter_volume *vol,
							const char *path,
							shelter_volume_dirent_fn fn, void *ctx,
							struct shelter_err *err);

/* Open flags (POSIX open(2) meaning). */
#define SHELTER_O_RDONLY 0x0
#define SHELTER_O_WRONLY 0x1
#define SHELTER_O_RDWR 0x2
#define SHELTER_O_ACCMODE 0x3
#define SHELTER_O_CREAT 0x40
#define SHELTER_O_EXCL 0x80
#define SHELTER_O_TRUNC 0x200
#define SHELTER_O_APPEND 0x400

SHELTER_API SHELTER_MUST_USE int shelter_file_open(struct shelter_volume *vol, const char *path,
						   int flags, uint32_t mode,
						   struct shelter_file **out,
						   struct shelter_err *err);
/* Close the handle. NULL is a no-op. Data is not synced: call shelter_file_sync. */
SHELTER_API void shelter_file_close(struct shelter_file *f);
/* Read up to size bytes at off; *out_read is 0 at or past end of file. A chunk that
 * fails authentication yields SHELTER_E_INTEGRITY and no bytes of it. */
SHELTER_API SHELTER_MUST_USE int shelter_file_pread(struct shelter_file *f, void *buf,
						    size_t size, uint64_t off, size_t *out_read,
						    struct shelter_err *err);
/* Write all size bytes at off (or at end of file for an O_APPEND handle, where
 * *out_off, when non-NULL, receives the offset used). Visible to every process on
 * return; durable after shelter_file_sync. A write of up to 1 MiB is one atomic
 * operation (§5.3); a larger one is split into 1 MiB operations, and when a later
 * one fails the earlier ones stay written, as after a short write(2). */
SHELTER_API SHELTER_MUST_USE int shelter_file_pwrite(struct shelter_file *f, const void *buf,
						     size_t size, uint64_t off,
						     uint64_t *out_off, struct shelter_err *err);
/* The file's inode number (as shelter_file_stat reports it), without a volume call. */
SHELTER_API uint64_t shelter_file_ino(const struct shelter_file *f);
/* Turn O_APPEND on or off for later writes of this handle (fcntl F_SETFL). */
SHELTER_API void shelter_file_set_append(struct shelter_file *f, int on);
SHELTER_API SHELTER_MUST_USE int shelter_file_truncate(struct shelter_file *f, uint64_t size,
						       struct shelter_err *err);
SHELTER_API SHELTER_MUST_USE int shelter_file_stat(struct shelter_file *f,
						   struct shelter_stat *out,
						   struct shelter_err *err);
SHELTER_API SHELTER_MUST_USE int shelter_file_sync(struct shelter_file *f,
						   struct shelter_err *err);

/* Full verification (§9): every record of every segment is authenticated and
 * replayed; problems are reported one per call of fn, with the plaintext path when
 * it can be recovered and kind one of SHELTER_E_INTEGRITY ("modified"),
 * _TRUNCATED, _SWAPPED, _MISSING, _UNEXPECTED, _STALE. Returns 0 when intact (and
 * fresh, when expected_tag is given), SHELTER_E_BADKEY for a wrong key, and
 * otherwise the kind of the first problem. Read-only: never repairs. */
typedef void (*shelter_volume_problem_fn)(void *ctx, int kind, const char *where,
					  const char *detail);
SHELTER_API SHELTER_MUST_USE int shelter_volume_verify(const char *dir,
						       const uint8_t key[SHELTER_VOLUME_KEY_SIZE],
						       const uint8_t *expected_tag,
						       shelter_volume_problem_fn fn, void *ctx,
						       struct shelter_err *err);

#endif
