/* SQLite on a protected volume: a SQLite VFS whose files are files of an open
 * struct shelter_volume (docs/formats/cas-store.md §3).
 *
 * Every byte SQLite stores (database pages, rollback journal, super-journal) goes
 * through the volume, so it is encrypted, authenticated and crash-atomic per
 * operation (docs/formats/volume.md §5, §8). Temporary files (temp databases,
 * statement and sort spills, VACUUM's copy) stay in this process's memory and are
 * wiped when closed.
 *
 * Use:
 *     cas_sqlvfs_register("cas", vol, &err);
 *     sqlite3_open_v2("/cas.db", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, "cas");
 *     sqlite3_exec(db, "PRAGMA journal_mode=TRUNCATE; PRAGMA synchronous=FULL", ...);
 * File names are paths inside the volume ("/cas.db", SQLite adds "-journal").
 * The pragmas that keep the crash guarantee are in cas-store.md §3.5: a rollback
 * journal (DELETE, TRUNCATE or PERSIST) with synchronous=FULL. WAL is not supported
 * (the VFS has no shared-memory methods, so SQLite keeps the rollback journal when
 * asked for WAL), except with PRAGMA locking_mode=EXCLUSIVE set first.
 *
 * Writes may wait in a write-behind buffer of the VFS (§3.4) until SQLite syncs,
 * touches another file, or ends a transaction: after COMMIT returns, everything it
 * wrote is in the volume; code that reads the database's files through the volume
 * API directly, rather than through SQLite, may see them late before that.
 *
 * Integrity failures of the volume (a MAC mismatch, a swapped or cut record) reach
 * SQLite as SQLITE_IOERR_DATA (turn on sqlite3_extended_result_codes to see it) and
 * never as data; cas_sqlvfs_last_error says which file and where (§3.2).
 *
 * Locking is in-process only (§3.3): connections of this process, on any thread,
 * exclude each other correctly; another process opening the same volume and
 * database is NOT excluded and must not be allowed to (the CAS holds an exclusive
 * lock on its data directory).
 *
 * Thread safety: register and unregister may be called from any thread, but not
 * concurrently with connections of the VFS being opened or closed. Connections of
 * one VFS may be used from many threads (SQLite's serialized or multi-thread mode).
 *
 * Ownership: the volume stays owned by the caller and must outlive every
 * connection opened through the VFS and the registration itself. The VFS copies
 * vfs_name.
 */
#ifndef SHELTER_CAS_SQLVFS_H
#define SHELTER_CAS_SQLVFS_H

#include "shelter/error.h"

struct shelter_volume;

/* Register a SQLite VFS named vfs_name (not the default VFS) over vol. Fails with
 * SHELTER_E_EXIST when a VFS of that name is already registered, SHELTER_E_INVAL
 * for an empty or over-long name (at most 63 bytes), SHELTER_E_INTERNAL when SQLite
 * refuses. */
SHELTER_MUST_USE int cas_sqlvfs_register(const char *vfs_name, struct shelter_volume *vol,
					 struct shelter_err *err);

/* Unregister and free the VFS. Every connection opened through it must be closed
 * first: when files are still open it leaves the VFS registered (a leak, not a
 * use-after-free) and returns SHELTER_E_INVAL. SHELTER_E_NOENT when no VFS of ours
 * has that name. Not marked must-use: it is a clean-up call, like close(2). */
int cas_sqlvfs_unregister(const char *vfs_name);

/* The message of the calling thread's most recent failure inside a VFS call, for
 * example "sqlvfs 'cas': read '/cas.db' at 8192 (4096 bytes): chunk 2 of
 * '/cas.db' (segment 2 offset 8408): MAC mismatch", or "" when there was none.
 * The record is per thread (SQLite calls the VFS on the caller's thread) and is
 * cleared when the thread's next transaction on a volume file begins (its first
 * SHARED lock), so after a failed statement it describes that statement's VFS
 * failure, if the failure came from the VFS at all. Borrowed: valid until the
 * thread's next VFS call. Never NULL. */
const char *cas_sqlvfs_last_error(void);

/* The shelter_code of that failure (SHELTER_E_INTEGRITY and the other integrity
 * codes for tampering, SHELTER_E_IO, SHELTER_E_NOSPC, ...), or 0. Integrity
 * failures reach SQLite as SQLITE_IOERR_DATA, which SQLite passes on as the
 * statement's extended error code (cas-store.md §3.2). */
int cas_sqlvfs_last_code(void);

/* Forget the calling thread's recorded failure. */
void cas_sqlvfs_clear_error(void);

#endif
