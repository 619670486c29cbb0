/* streamlog audisp: the auditd plugin (docs/streamlog.md §3.5.7; audisp.h).
 *
 * Two threads: the reader takes lines from stdin as auditd writes them, numbers each
 * and queues its frame (a full queue drops the frame, not its number: the daemon
 * records the gap); the sender writes the queue to the daemon over TLS, reconnecting
 * when the connection breaks. auditd blocks, then drops records for a plugin that
 * does not read, so the reader never waits for the network. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "streamlog/audisp.h"
#include "streamlog/common.h"

/* ---- the pure part: lines and frames ---- */

void sl_audisp_lines_init(struct sl_audisp_lines *l)
{
	memset(l, 0, sizeof(*l));
}

int sl_audisp_next(struct sl_audisp_lines *l, const char *buf, size_t len, size_t *consumed,
		   struct sl_str *line)
{
	size_t pos = 0;

	*consumed = 0;
	*line = (struct sl_str){ NULL, 0 };
	l->cut = 0;
	if (l->skipping) {
		const char *nl = memchr(buf, '\n', len);

		if (nl == NULL) {
			*consumed = len;
			return 1;
		}
		pos = (size_t)(nl - buf) + 1;
		l->skipping = 0;
	}
	{
		size_t avail = len - pos, scan = avail < SL_AUDISP_LINE_MAX + 1 ? avail
									: SL_AUDISP_LINE_MAX + 1;
		const char *nl = memchr(buf + pos, '\n', scan);

		if (nl != NULL) {
			*line = (struct sl_str){ buf + pos, (size_t)(nl - (buf + pos)) };
			*consumed = (size_t)(nl - buf) + 1;
			return 0;
		}
		if (avail <= SL_AUDISP_LINE_MAX) {
			*consumed = pos;
			return 1;
		}
		/* over the limit: deliver the first SL_AUDISP_LINE_MAX bytes, drop the rest */
		*line = (struct sl_str){ buf + pos, SL_AUDISP_LINE_MAX };
		*consumed = pos + SL_AUDISP_LINE_MAX;
		l->cut = 1;
		l->skipping = 1;
		return 0;
	}
}

/* RFC 5424 §6.2.4: HOSTNAME is 1..255 PRINTUSASCII; "-" when ours is not. */
static int host_ok(const char *h)
{
	size_t n = 0;

	for (; h != NULL && h[n] != '\0'; n++)
		if (h[n] < 33 || h[n] > 126)
			return 0;
	return n >= 1 && n <= 255;
}

int sl_audisp_frame(struct sl_str line, uint32_t seq, const char *host, long pid,
		    int64_t time_ns, char *out, size_t cap, size_t *out_size)
{
	char head[400], len_str[16];
	struct tm tm;
	time_t sec;
	int hn, ln;
	size_t n = line.len;
	const char *p = line.p;

	*out_size = 0;
	if (seq < 1 || seq > SL_AUDISP_SEQ_MAX || pid <= 0 || pid > 999999999 || time_ns < 0 ||
	    line.len > SL_AUDISP_LINE_MAX || (line.p == NULL && line.len > 0))
		return SHELTER_E_INVAL;
	/* what the daemon's parser removes (docs/streamlog.md §3.1.2) */
	while (n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
		p += 3;
		n -= 3;
	}
	while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == '\0'))
		n--;
	if (n == 0)
		return 1;
	sec = (time_t)(time_ns / 1000000000);
	if (gmtime_r(&sec, &tm) == NULL || tm.tm_year + 1900 > 9999)
		return SHELTER_E_INVAL;
	hn = snprintf(head, sizeof(head),
		      "<110>1 %04d-%02d-%02dT%02d:%02d:%02d.%06ldZ %s audit %ld - "
		      "[meta sequenceId=\"%u\"] ",
		      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		      tm.tm_sec, (long)(time_ns % 1000000000 / 1000), host_ok(host) ? host : "-",
		      pid, seq);
	if (hn < 0 || (size_t)hn >= sizeof(head))
		return SHELTER_E_INVAL;
	ln = snprintf(len_str, sizeof(len_str), "%zu ", (size_t)hn + n);
	if ((size_t)ln + (size_t)hn + n > cap)
		return SHELTER_E_FBIG;
	memcpy(out, len_str, (size_t)ln);
	memcpy(out + ln, head, (size_t)hn);
	memcpy(out + ln + hn, p, n);
	*out_size = (size_t)ln + (size_t)hn + n;
	return 0;
}

/* ---- the plugin ---- */

#define QUEUE_FRAMES 16384        /* records held while the daemon is unreachable */
#define QUEUE_BYTES (32u << 20)
#define IN_BUF (SL_AUDISP_LINE_MAX + 1 + 65536)
#define CONNECT_MS 10000
#define BACKOFF_MAX_MS 30000
#define DRAIN_MS 5000             /* at SIGTERM: what is queued, at most this long */
#define EOF_DRAIN_MS 30000        /* after stdin ended: the same, to a daemon that is down */

struct frame {
	struct frame *next;
	size_t size;
	char data[];
};

struct plugin {
	const struct sl_audisp_config *cfg;
	char host[256], port[16], hostname[256];
	SSL_CTX *ctx;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct frame *head, **tail;
	size_t count, bytes;
	int eof;
	uint64_t dropped, sent;
	uint32_t seq;
};

/* Number the line and queue its frame; a full queue drops the frame, not its number.
 * tmp: SL_AUDISP_FRAME_MAX bytes of the reader's. */
static void queue_line(struct plugin *pl, struct sl_str line, char *tmp)
{
	struct frame *fr;
	uint32_t seq = pl->seq;
	size_t size = 0;

	if (sl_audisp_frame(line, seq, pl->hostname, (long)getpid(), sl_now_ns(), tmp,
			    SL_AUDISP_FRAME_MAX, &size) != 0)
		return; /* an empty line: nothing to send, no number used */
	pl->seq = pl->seq >= SL_AUDISP_SEQ_MAX ? 1 : pl->seq + 1;
	fr = malloc(sizeof(*fr) + size);
	pthread_mutex_lock(&pl->mu);
	if (fr == NULL || pl->count >= QUEUE_FRAMES || pl->bytes + size > QUEUE_BYTES) {
		if (pl->dropped++ == 0)
			sl_log("audisp: queue full (%zu records): dropping; the daemon records "
			       "the gap in sequenceId", pl->count);
		free(fr);
	} else {
		memcpy(fr->data, tmp, size);
		fr->size = size;
		fr->next = NULL;
		*pl->tail = fr;
		pl->tail = &fr->next;
		pl->count++;
		pl->bytes += size;
		pthread_cond_signal(&pl->cv);
	}
	pthread_mutex_unlock(&pl->mu);
}

/* A last line without its LF may be cut inside a value (docs/streamlog.md §3.2.1:
 * "uid=10" of "uid=1000"). It is sent with a prefix that no audit record has, so the
 * daemon keeps it as a plain syslog record instead of reading it as audit. */
static void queue_unterminated(struct plugin *pl, const char *p, size_t n, char *tmp)
{
	static const char pre[] = "unterminated audit record: ";
	char *line = malloc(SL_AUDISP_LINE_MAX);
	size_t take = n < SL_AUDISP_LINE_MAX - (sizeof(pre) - 1) ? n
								 : SL_AUDISP_LINE_MAX - (sizeof(pre) - 1);

	if (line == NULL)
		return;
	memcpy(line, pre, sizeof(pre) - 1);
	memcpy(line + sizeof(pre) - 1, p, take);
	queue_line(pl, (struct sl_str){ line, sizeof(pre) - 1 + take }, tmp);
	free(line);
}

static void *reader_main(void *arg)
{
	struct plugin *pl = arg;
	struct sl_audisp_lines lines;
	char *buf = malloc(IN_BUF), *tmp = malloc(SL_AUDISP_FRAME_MAX);
	size_t len = 0;

	sl_audisp_lines_init(&lines);
	while (buf != NULL && tmp != NULL && !sl_stop) {
		struct pollfd p[2] = { { 0, POLLIN, 0 }, { sl_stop_fd, POLLIN, 0 } };
		ssize_t n;
		size_t pos = 0;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(0, buf + len, IN_BUF - len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		for (;;) {
			struct sl_str line;
			size_t used = 0;
			int rc = sl_audisp_next(&lines, buf + pos, len - pos, &used, &line);

			pos += used;
			if (rc != 0)
				break;
			queue_line(pl, line, tmp);
		}
		memmove(buf, buf + pos, len - pos);
		len -= pos;
	}
	if (buf != NULL && tmp != NULL && len > 0 && !sl_stop && !lines.skipping)
		queue_unterminated(pl, buf, len, tmp);
	free(buf);
	free(tmp);
	pthread_mutex_lock(&pl->mu);
	pl->eof = 1;
	pthread_cond_signal(&pl->cv);
	pthread_mutex_unlock(&pl->mu);
	return NULL;
}

static int dial(const struct plugin *pl)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	int fd = -1, err = 0;
	socklen_t el = sizeof(err);

	if (getaddrinfo(pl->host, pl->port, &hints, &ai) != 0 || ai == NULL)
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 &&
	    (errno != EINPROGRESS || poll(&(struct pollfd){ fd, POLLOUT, 0 }, 1, CONNECT_MS) != 1 ||
	     getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0)) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd >= 0) {
		struct timeval tv = { .tv_sec = CONNECT_MS / 1000 };

		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	return fd;
}

/* A verified TLS connection to the daemon (its certificate for HOST: a name, or an
 * IP address in its subjectAltName), or NULL. */
static SSL *tls_connect(struct plugin *pl, int *out_fd)
{
	int fd = dial(pl);
	SSL *ssl = NULL;
	X509_VERIFY_PARAM *vp;
	unsigned char ip[16];
	int is_ip = inet_pton(AF_INET, pl->host, ip) == 1 || inet_pton(AF_INET6, pl->host, ip) == 1;

	*out_fd = -1;
	if (fd < 0)
		return NULL;
	ssl = SSL_new(pl->ctx);
	vp = ssl != NULL ? SSL_get0_param(ssl) : NULL;
	if (vp == NULL || SSL_set_fd(ssl, fd) != 1 ||
	    (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, pl->host)
		   : SSL_set1_host(ssl, pl->host) && SSL_set_tlsext_host_name(ssl, pl->host)) != 1 ||
	    SSL_connect(ssl) != 1) {
		unsigned long e = ERR_peek_last_error();

		sl_log("audisp: TLS to %s:%s: %s", pl->host, pl->port,
		       e ? ERR_reason_error_string(e) : "handshake failed");
		ERR_clear_error();
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	*out_fd = fd;
	return ssl;
}

static void tls_close(SSL **ssl, int *fd)
{
	if (*ssl != NULL) {
		SSL_shutdown(*ssl);
		SSL_free(*ssl);
	}
	if (*fd >= 0)
		close(*fd);
	*ssl = NULL;
	*fd = -1;
}

/* The next frame, waiting at most ms; NULL when there is none. It stays queued until
 * sent (a frame whose write failed is sent again on the next connection: the daemon
 * does not record a frame it did not read whole). */
static struct frame *peek(struct plugin *pl, int ms, int *out_eof)
{
	struct frame *fr;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&pl->mu);
	if (pl->head == NULL && !pl->eof)
		pthread_cond_timedwait(&pl->cv, &pl->mu, &ts);
	fr = pl->head;
	*out_eof = pl->eof && pl->head == NULL;
	pthread_mutex_unlock(&pl->mu);
	return fr;
}

static void pop(struct plugin *pl)
{
	struct frame *fr;

	pthread_mutex_lock(&pl->mu);
	fr = pl->head;
	pl->head = fr->next;
	if (pl->head == NULL)
		pl->tail = &pl->head;
	pl->count--;
	pl->bytes -= fr->size;
	pthread_mutex_unlock(&pl->mu);
	free(fr);
	pl->sent++;
}

static int reader_done(struct plugin *pl)
{
	int eof;

	pthread_mutex_lock(&pl->mu);
	eof = pl->eof;
	pthread_mutex_unlock(&pl->mu);
	return eof;
}

static void sender(struct plugin *pl)
{
	SSL *ssl = NULL;
	int fd = -1, backoff = 500, eof = 0;
	int64_t drain_until = 0;

	while (!eof) {
		struct frame *fr;

		if (drain_until == 0 && (sl_stop || reader_done(pl)))
			drain_until = sl_mono_ns() +
				      (int64_t)(sl_stop ? DRAIN_MS : EOF_DRAIN_MS) * 1000000;
		if (drain_until != 0 && sl_mono_ns() > drain_until)
			break;
		fr = peek(pl, 500, &eof);
		if (fr == NULL)
			continue;
		if (ssl == NULL && (ssl = tls_connect(pl, &fd)) == NULL) {
			poll(NULL, 0, drain_until != 0 ? 200 : backoff);
			backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
			continue;
		}
		if (backoff > 500)
			sl_log("audisp: connected to %s:%s", pl->host, pl->port);
		backoff = 500;
		if (SSL_write(ssl, fr->data, (int)fr->size) != (int)fr->size) {
			sl_log("audisp: the connection to %s:%s broke: reconnecting", pl->host, pl->port);
			ERR_clear_error();
			tls_close(&ssl, &fd);
			continue;
		}
		pop(pl);
	}
	tls_close(&ssl, &fd);
}

static int setup(struct plugin *pl, const struct sl_audisp_config *cfg)
{
	const char *colon = cfg->to != NULL ? strrchr(cfg->to, ':') : NULL;
	size_t hl = colon != NULL ? (size_t)(colon - cfg->to) : 0;

	if (colon == NULL || hl == 0 || hl >= sizeof(pl->host) || strlen(colon + 1) == 0 ||
	    strlen(colon + 1) >= sizeof(pl->port)) {
		sl_log("audisp: --to '%s': want HOST:PORT", cfg->to ? cfg->to : "");
		return SL_EXIT_USAGE;
	}
	memcpy(pl->host, cfg->to, hl);
	if (pl->host[0] == '[' && pl->host[hl - 1] == ']') { /* [IPv6]:port */
		memmove(pl->host, pl->host + 1, hl - 2);
		pl->host[hl - 2] = '\0';
	}
	snprintf(pl->port, sizeof(pl->port), "%s", colon + 1);
	if (gethostname(pl->hostname, sizeof(pl->hostname) - 1) != 0)
		pl->hostname[0] = '\0';
	pl->ctx = SSL_CTX_new(TLS_client_method());
	if (pl->ctx == NULL || SSL_CTX_set_min_proto_version(pl->ctx, TLS1_2_VERSION) != 1 ||
	    (cfg->ca != NULL ? SSL_CTX_load_verify_locations(pl->ctx, cfg->ca, NULL)
			     : SSL_CTX_set_default_verify_paths(pl->ctx)) != 1 ||
	    (cfg->cert != NULL &&
	     (SSL_CTX_use_certificate_chain_file(pl->ctx, cfg->cert) != 1 ||
	      SSL_CTX_use_PrivateKey_file(pl->ctx, cfg->key, SSL_FILETYPE_PEM) != 1 ||
	      SSL_CTX_check_private_key(pl->ctx) != 1))) {
		sl_log("audisp: TLS set-up (--ca, --cert, --key): %s",
		       ERR_reason_error_string(ERR_peek_last_error()));
		return SL_EXIT_FAIL;
	}
	SSL_CTX_set_verify(pl->ctx, SSL_VERIFY_PEER, NULL);
	return 0;
}

int sl_audisp(const struct sl_audisp_config *cfg)
{
	struct plugin pl;
	struct sigaction sa;
	pthread_t reader;
	int rc;

	memset(&pl, 0, sizeof(pl));
	pl.cfg = cfg;
	pl.seq = 1;
	pl.tail = &pl.head;
	pthread_mutex_init(&pl.mu, NULL);
	pthread_cond_init(&pl.cv, NULL);
	rc = sl_stop_install() != 0 ? SL_EXIT_FAIL : setup(&pl, cfg);
	/* auditd sends its plugins SIGHUP when it reloads its configuration */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	if (rc == 0 && sigaction(SIGHUP, &sa, NULL) != 0)
		rc = SL_EXIT_FAIL;
	if (rc == 0 && pthread_create(&reader, NULL, reader_main, &pl) != 0)
		rc = SL_EXIT_FAIL;
	if (rc == 0) {
		sl_log("audisp: forwarding stdin to %s:%s", pl.host, pl.port);
		sender(&pl);
		/* the sender ends at the reader's end of input, or after a signal that the
		 * reader sees too (sl_stop_fd) */
		pthread_join(reader, NULL);
		sl_log("audisp: sent %llu records, %zu not sent, %llu dropped (queue full)",
		       (unsigned long long)pl.sent, pl.count, (unsigned long long)pl.dropped);
		rc = pl.count == 0 && pl.dropped == 0 ? SL_EXIT_OK : SL_EXIT_FAIL;
	}
	while (pl.head != NULL) {
		struct frame *fr = pl.head;

		pl.head = fr->next;
		free(fr);
	}
	SSL_CTX_free(pl.ctx);
	pthread_cond_destroy(&pl.cv);
	pthread_mutex_destroy(&pl.mu);
	return rc;
}
