/* What StreamLog's commands share: the signing key, time, log lines, stop signals.
 * docs/streamlog.md §5, §6. */
#ifndef STREAMLOG_COMMON_H
#define STREAMLOG_COMMON_H

#include <signal.h>
#include <stdint.h>

#include "shelter/error.h"
#include "shelter/log.h"

#define SL_EXIT_OK 0
#define SL_EXIT_FAIL 1  /* the command ran and failed: a check, a refused store */
#define SL_EXIT_USAGE 2 /* bad arguments or configuration */

/* Read an Ed25519 private key (PEM, as `openssl genpkey -algorithm ed25519` or
 * `streamlog keygen` writes) into its 32-byte seed, which the caller wipes. */
int sl_key_load(const char *path, uint8_t seed[32], struct shelter_err *err);
/* Create a new key file (mode 0600, refuses to overwrite). */
int sl_key_create(const char *path, uint8_t seed[32], struct shelter_err *err);

/* The verifier of a log: from "--vkey STRING" or the first line of a file. */
int sl_verifier_load(const char *vkey, const char *vkey_file, struct shelter_log_verifier *v,
		     struct shelter_err *err);

/* Wall clock, ns since the epoch; monotonic clock, ns. */
int64_t sl_now_ns(void);
int64_t sl_mono_ns(void);

/* A decimal of 1 to 20 digits below 2^64 at *p, then one space: 0 with *p past the
 * space (the state file's numbers, docs/streamlog.md §3.5.5); -1 otherwise. */
int sl_u64_sp(const char **p, uint64_t *out);

/* One line on stderr: "streamlog: <text>" (daemons: one line per event). */
void sl_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int sl_fail(const char *what, const struct shelter_err *err);

/* SIGTERM and SIGINT set sl_stop and make sl_stop_fd readable; SIGPIPE ignored. */
extern volatile sig_atomic_t sl_stop;
extern int sl_stop_fd;
int sl_stop_install(void);

/* Read a whole small file (at most max bytes) into a malloc'd NUL-terminated buffer. */
int sl_read_file(const char *path, size_t max, char **out, size_t *out_size,
		 struct shelter_err *err);

#endif
