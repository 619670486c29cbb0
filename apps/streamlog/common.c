/* Shared by StreamLog's commands (common.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "shelter/crypto.h"
#include "streamlog/common.h"

volatile sig_atomic_t sl_stop;
int sl_stop_fd = -1;
static int stop_pipe[2] = { -1, -1 };

int sl_read_file(const char *path, size_t max, char **out, size_t *out_size,
		 struct shelter_err *err)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n;
	int rc = 0;

	*out = NULL;
	*out_size = 0;
	if (f == NULL)
		return shelter_err_errno(err, errno, "open '%s'", path);
	buf = malloc(max + 2);
	if (buf == NULL) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "read '%s'", path);
		goto out;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f))
		rc = shelter_err_errno(err, errno, "read '%s'", path);
	else if (n > max)
		rc = shelter_err_set(err, SHELTER_E_FBIG, "'%s' is over %zu bytes", path, max);
	if (rc == 0) {
		buf[n] = '\0';
		*out = buf;
		*out_size = n;
		buf = NULL;
	}
out:
	free(buf);
	fclose(f);
	return rc;
}

int sl_key_load(const char *path, uint8_t seed[32], struct shelter_err *err)
{
	EVP_PKEY *pk = NULL;
	size_t len = 32;
	int rc = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return shelter_err_errno(err, errno, "signing key '%s'", path);
	pk = PEM_read_PrivateKey(f, NULL, NULL, (void *)"");
	fclose(f);
	if (pk == NULL || EVP_PKEY_get_id(pk) != EVP_PKEY_ED25519)
		rc = shelter_err_set(err, SHELTER_E_BADKEY,
				     "signing key '%s': not an unencrypted PEM Ed25519 private key",
				     path);
	else if (EVP_PKEY_get_raw_private_key(pk, seed, &len) != 1 || len != 32)
		rc = shelter_err_set(err, SHELTER_E_CRYPTO, "signing key '%s': cannot read it", path);
	EVP_PKEY_free(pk);
	return rc;
}

int sl_key_create(const char *path, uint8_t seed[32], struct shelter_err *err)
{
	uint8_t pub[32];
	EVP_PKEY *pk = NULL;
	FILE *f = NULL;
	int rc, fd;

	rc = shelter_ed25519_keygen(pub, seed, err);
	if (rc != 0)
		return rc;
	pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = shelter_err_errno(err, errno, "create '%s'", path);
		goto out;
	}
	f = fdopen(fd, "w");
	if (f == NULL || pk == NULL || PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) != 1 ||
	    fflush(f) != 0 || fsync(fd) != 0)
		rc = shelter_err_set(err, SHELTER_E_IO, "write '%s'", path);
	if (f != NULL)
		fclose(f);
	else
		close(fd);
	if (rc != 0)
		unlink(path);
out:
	EVP_PKEY_free(pk);
	return rc;
}

int sl_verifier_load(const char *vkey, const char *vkey_file, struct shelter_log_verifier *v,
		     struct shelter_err *err)
{
	char *text = NULL;
	size_t size;
	int rc;

	if (vkey != NULL)
		return shelter_log_verifier_parse(vkey, strlen(vkey), v, err);
	if (vkey_file == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "give --vkey or --vkey-file");
	rc = sl_read_file(vkey_file, 4096, &text, &size, err);
	if (rc == 0)
		rc = shelter_log_verifier_parse(text, strcspn(text, "\r\n"), v, err);
	free(text);
	return rc;
}

int64_t sl_now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

int64_t sl_mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

void sl_log(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* One event, one line: a message never breaks the line format. */
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	fprintf(stderr, "streamlog: %s\n", line);
}

int sl_fail(const char *what, const struct shelter_err *err)
{
	sl_log("%s: %s", what, err->msg[0] ? err->msg : shelter_code_str(err->code));
	return SL_EXIT_FAIL;
}

static void on_stop(int sig)
{
	int saved = errno;
	char c = (char)sig;

	sl_stop = 1;
	if (stop_pipe[1] >= 0 && write(stop_pipe[1], &c, 1) < 0) {
		/* the pipe is full: a stop is already pending */
	}
	errno = saved;
}

int sl_stop_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return -1;
	sl_stop_fd = stop_pipe[0];
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
		return -1;
	sa.sa_handler = SIG_IGN;
	return sigaction(SIGPIPE, &sa, NULL);
}

int sl_u64_sp(const char **p, uint64_t *out)
{
	const char *q = *p;
	uint64_t v = 0;

	while (*q >= '0' && *q <= '9' && q - *p < 20) {
		if (v > (UINT64_MAX - (uint64_t)(*q - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*q++ - '0');
	}
	if (q == *p || *q != ' ')
		return -1;
	*p = q + 1;
	*out = v;
	return 0;
}
